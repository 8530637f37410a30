//! The `Idempotency-Key` cache: the first successful answer per (path, key),
//! replayed for 24 hours as Gigs documents, and bounded in number so that a
//! long-running emulator fed fresh keys does not grow without end.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long Gigs keeps a key.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// The most answers kept at once; the oldest go first beyond it. Ten
/// thousand answers of a few kilobytes each are tens of megabytes at most.
pub const CAPACITY: usize = 10_000;

/// A stored answer to replay for an `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct Replay {
    pub status: u16,
    pub body: Vec<u8>,
}

type Key = (String, String);

#[derive(Debug, Default)]
pub struct Replays {
    /// Replays by (path, key): a key is only ever replayed for the same
    /// route. Each holds the instant it was stored at.
    answers: HashMap<Key, (Instant, Replay)>,
    /// Keys oldest first, for eviction by age and by number.
    order: VecDeque<Key>,
}

impl Replays {
    /// The stored answer, unless it is older than [`KEEP_FOR`].
    pub fn get(&self, path: &str, key: &str, now: Instant) -> Option<&Replay> {
        let (at, replay) = self.answers.get(&(path.to_owned(), key.to_owned()))?;
        (now.saturating_duration_since(*at) < KEEP_FOR).then_some(replay)
    }

    /// Stores the first answer for a key (a later one for a key still kept
    /// changes nothing), after dropping the expired and the excess.
    pub fn insert(&mut self, path: &str, key: &str, replay: Replay, now: Instant) {
        self.evict(now);
        let key = (path.to_owned(), key.to_owned());
        if self.answers.contains_key(&key) {
            return;
        }
        if self.answers.len() >= CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
        self.order.push_back(key.clone());
        self.answers.insert(key, (now, replay));
    }

    fn evict(&mut self, now: Instant) {
        while let Some(oldest) = self.order.front() {
            let expired = self.answers.get(oldest).map_or(true, |(at, _)| {
                now.saturating_duration_since(*at) >= KEEP_FOR
            });
            if !expired {
                break;
            }
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(n: u8) -> Replay {
        Replay {
            status: 201,
            body: vec![n],
        }
    }

    #[test]
    fn an_answer_is_replayed_for_24_hours_and_then_forgotten() {
        let start = Instant::now();
        let mut replays = Replays::default();
        replays.insert("/p", "k", replay(1), start);
        let almost = start + KEEP_FOR - Duration::from_secs(1);
        assert_eq!(
            replays.get("/p", "k", almost).map(|r| r.body.clone()),
            Some(vec![1])
        );
        assert!(replays.get("/p", "k", start + KEEP_FOR).is_none());
        // The next store sweeps the expired answer out.
        replays.insert("/p", "other", replay(2), start + KEEP_FOR);
        assert_eq!(replays.len(), 1);
    }

    #[test]
    fn beyond_the_capacity_the_oldest_answer_goes_first() {
        let start = Instant::now();
        let mut replays = Replays::default();
        for n in 0..=CAPACITY {
            replays.insert("/p", &n.to_string(), replay(0), start);
        }
        assert_eq!(replays.len(), CAPACITY);
        assert!(replays.get("/p", "0", start).is_none());
        assert!(replays.get("/p", "1", start).is_some());
        assert!(replays.get("/p", &CAPACITY.to_string(), start).is_some());
    }

    #[test]
    fn the_first_answer_for_a_key_stays() {
        let start = Instant::now();
        let mut replays = Replays::default();
        replays.insert("/p", "k", replay(1), start);
        replays.insert("/p", "k", replay(2), start);
        assert_eq!(
            replays.get("/p", "k", start).map(|r| r.body.clone()),
            Some(vec![1])
        );
        // The same key on another path is another answer.
        assert!(replays.get("/q", "k", start).is_none());
    }
}
