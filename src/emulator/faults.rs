//! The fault knobs: the `--rate` token bucket, the `--fail-rate` and
//! `--drop-rate` (and `--address-drop-rate`) dice, all drawn from one seeded generator so that `--seed`
//! makes a sequential run repeat exactly.
//!
//! A die is only thrown when its knob is above zero, so turning one knob on
//! does not shift the sequence another one sees.

use std::time::Instant;

/// What happens to a request before the API sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// 429, with `Retry-After` in whole seconds (at least 1).
    RateLimited {
        retry_after: u64,
    },
    /// An injected 500, 502 or 503.
    Fail(u16),
}

/// A token bucket holding one second's worth of requests (at least one),
/// starting full, refilled continuously at `rate` per second.
#[derive(Clone, Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        let capacity = rate.max(1.0);
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token, or says in how many whole seconds one will be there.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            // `as` saturates, so even an absurd rate cannot overflow here.
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[derive(Debug)]
pub struct Faults {
    bucket: Option<Bucket>,
    fail_rate: f64,
    drop_rate: f64,
    address_drop_rate: f64,
    rng: fastrand::Rng,
}

impl Faults {
    /// `address_drop_rate` is the share of address creates whose answer is
    /// dropped, as `drop_rate` is for subscription creates.
    pub fn new(
        rate: Option<f64>,
        fail_rate: f64,
        drop_rate: f64,
        address_drop_rate: f64,
        seed: u64,
    ) -> Faults {
        let now = Instant::now();
        Faults {
            bucket: rate.map(|rate| Bucket::new(rate, now)),
            fail_rate,
            drop_rate,
            address_drop_rate,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Decides a request's fate on arrival: the rate limit first (a request
    /// over it is refused before anything else), then the failure die.
    pub fn admit(&mut self, now: Instant) -> Verdict {
        if let Some(bucket) = &mut self.bucket {
            if let Err(retry_after) = bucket.take(now) {
                return Verdict::RateLimited { retry_after };
            }
        }
        if self.fail_rate > 0.0 && self.rng.f64() < self.fail_rate {
            const STATUSES: [u16; 3] = [500, 502, 503];
            return Verdict::Fail(STATUSES[self.rng.usize(..STATUSES.len())]);
        }
        Verdict::Pass
    }

    /// Whether to close the connection instead of answering a fresh
    /// subscription create (or, with `address`, a fresh address create).
    pub fn drop_answer(&mut self, address: bool) -> bool {
        let share = if address {
            self.address_drop_rate
        } else {
            self.drop_rate
        };
        share > 0.0 && self.rng.f64() < share
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_second_of_burst_then_says_when_to_return() {
        let start = Instant::now();
        let mut bucket = Bucket::new(5.0, start);
        for _ in 0..5 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        assert_eq!(bucket.take(start), Err(1));
        // A fifth of a second later one token has come back.
        assert_eq!(bucket.take(start + Duration::from_millis(200)), Ok(()));
    }

    #[test]
    fn a_slow_bucket_asks_for_a_longer_wait() {
        let start = Instant::now();
        let mut bucket = Bucket::new(0.25, start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Err(4));
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let run = || {
            let mut faults = Faults::new(None, 0.5, 0.0, 0.0, 7);
            (0..50)
                .map(|_| faults.admit(Instant::now()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
