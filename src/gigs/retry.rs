//! Whether to send a request again, as a pure function of what happened to
//! the last attempt and how many retries were already spent.
//!
//! Retried: connection errors, timeouts and other transport failures, and the
//! statuses 408, 429, 500, 502, 503 and 504. Every other status is final (a
//! 4xx means the request itself is wrong, and sending it again cannot help).
//! The wait is the server's `Retry-After` when it gives one, else an
//! exponential backoff with "equal jitter": half of the doubled step is fixed,
//! the other half random, so that workers refused together do not come back
//! together, yet none comes back at once.
//!
//! A create sent without an `Idempotency-Key` is not safe to send twice: when
//! an attempt *may have landed* (the request left and no clear refusal came
//! back), sending it again blindly could create a second subscription or user.
//! For such a request the decision is [`Decision::Check`]: the error goes back
//! to the caller, which looks for the effect (the SIM's subscriptions, the
//! email's user) and sends again, within the same retry budget, only if
//! nothing is there. What may have landed ([`may_have_landed`]):
//! - a timeout, or a connection that broke after it was opened: the request
//!   may have been sent and processed;
//! - 408 and every retryable 5xx (500, 502, 503, 504): a gateway may answer
//!   them after the server acted, and the API does not document which of them
//!   come before any processing, so none is trusted to;
//! - not a 429 (the limit is checked before anything is done) and not a
//!   connection that could not be opened (nothing was sent).
//!
//! The jitter is an argument (a number in `0..1`) so that the function stays
//! pure and every case is unit-tested below.

use std::time::{Duration, SystemTime};

/// What happened to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered with this status (and maybe a `Retry-After`).
    Answered {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection could not be made, broke, or timed out.
    Transport(Transport),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The connection could not be opened: the request was never sent.
    Connect,
    Timeout,
    /// The connection broke after the request may have been sent.
    Broken,
}

/// Whether a request may simply be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resend {
    /// Reads, searches, and creates that carry an `Idempotency-Key`.
    Safe,
    /// A create without a key: sent twice, it may act twice.
    CheckFirst,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Give the last answer (or error) to the caller.
    Stop,
    /// Send the same request again after this wait.
    RetryAfter(Duration),
    /// The attempt may have landed: give the error to the caller, which
    /// checks for its effect and may send again after this wait.
    Check(Duration),
}

/// The knobs of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt (`--max-retries`).
    pub max_retries: u32,
    /// The first backoff step.
    pub base: Duration,
    /// No backoff step is longer than this.
    pub cap: Duration,
}

impl Policy {
    pub fn new(max_retries: u32) -> Self {
        Policy {
            max_retries,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

/// True for the statuses worth sending again.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether an attempt that failed this way may still have had its effect
/// (see the module documentation for why each case is what it is).
pub fn may_have_landed(attempt: Attempt) -> bool {
    match attempt {
        Attempt::Answered { status, .. } => status == 408 || status >= 500,
        Attempt::Transport(Transport::Connect) => false,
        Attempt::Transport(Transport::Timeout | Transport::Broken) => true,
    }
}

/// Decides after attempt number `retries_done + 1`. `jitter` is in `0..1`.
pub fn decide(
    attempt: Attempt,
    retries_done: u32,
    resend: Resend,
    policy: &Policy,
    jitter: f64,
) -> Decision {
    let retry_after = match attempt {
        Attempt::Answered { status, .. } if !is_retryable_status(status) => {
            return Decision::Stop;
        }
        Attempt::Answered { retry_after, .. } => retry_after,
        Attempt::Transport(_) => None,
    };
    if retries_done >= policy.max_retries {
        return Decision::Stop;
    }
    let wait = retry_after.unwrap_or_else(|| backoff(retries_done, policy, jitter));
    if resend == Resend::CheckFirst && may_have_landed(attempt) {
        Decision::Check(wait)
    } else {
        Decision::RetryAfter(wait)
    }
}

/// `base · 2^n`, capped, of which the upper half is random.
pub fn backoff(retries_done: u32, policy: &Policy, jitter: f64) -> Duration {
    let step = policy
        .base
        .saturating_mul(1u32 << retries_done.min(16))
        .min(policy.cap);
    let jitter = jitter.clamp(0.0, 1.0);
    step / 2 + step.mul_f64(jitter / 2.0)
}

/// The longest `Retry-After` honoured: a larger one (or a date years ahead)
/// is taken as this, so that a broken header cannot stall a run for ever.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Reads a `Retry-After` value: whole seconds, or an HTTP date (a date in the
/// past means "now"), at most [`MAX_RETRY_AFTER`]. `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    read_retry_after(value.trim(), now).map(|d| d.min(MAX_RETRY_AFTER))
}

fn read_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some servers send fractions although the RFC says whole seconds.
    if let Ok(secs) = value.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_AFTER));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(5)
    }

    fn status(status: u16) -> Attempt {
        Attempt::Answered {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn final_statuses_stop_at_once() {
        for s in [200, 201, 400, 401, 403, 404, 409, 422] {
            assert_eq!(
                decide(status(s), 0, Resend::CheckFirst, &policy(), 0.5),
                Decision::Stop,
                "{s}"
            );
        }
    }

    #[test]
    fn retryable_statuses_and_transport_errors_back_off() {
        for attempt in [
            status(408),
            status(429),
            status(500),
            status(502),
            status(503),
            status(504),
            Attempt::Transport(Transport::Connect),
            Attempt::Transport(Transport::Timeout),
            Attempt::Transport(Transport::Broken),
        ] {
            assert_eq!(
                decide(attempt, 0, Resend::Safe, &policy(), 0.0),
                Decision::RetryAfter(Duration::from_millis(100)),
                "{attempt:?}"
            );
        }
    }

    #[test]
    fn retries_stop_after_the_limit() {
        for resend in [Resend::Safe, Resend::CheckFirst] {
            assert_ne!(
                decide(status(503), 4, resend, &policy(), 0.0),
                Decision::Stop
            );
            assert_eq!(
                decide(status(503), 5, resend, &policy(), 0.0),
                Decision::Stop
            );
            assert_eq!(
                decide(status(503), 0, resend, &Policy::new(0), 0.0),
                Decision::Stop
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() {
        let p = policy();
        assert_eq!(backoff(0, &p, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(0, &p, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(2, &p, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(2, &p, 0.5), Duration::from_millis(600));
        assert_eq!(backoff(30, &p, 1.0), p.cap);
        assert_eq!(backoff(30, &p, 7.0), p.cap, "jitter is clamped");
    }

    #[test]
    fn retry_after_wins_over_backoff() {
        let refused = Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            decide(refused, 0, Resend::Safe, &policy(), 0.9),
            Decision::RetryAfter(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_create_that_may_have_landed_is_checked_not_resent() {
        for attempt in [
            status(408),
            status(500),
            status(502),
            status(503),
            status(504),
            Attempt::Transport(Transport::Timeout),
            Attempt::Transport(Transport::Broken),
        ] {
            assert!(may_have_landed(attempt), "{attempt:?}");
            assert_eq!(
                decide(attempt, 1, Resend::CheckFirst, &policy(), 0.0),
                Decision::Check(Duration::from_millis(200)),
                "{attempt:?}"
            );
        }
    }

    #[test]
    fn a_create_refused_before_it_was_processed_is_resent() {
        let refused = Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
        };
        for attempt in [refused, Attempt::Transport(Transport::Connect)] {
            assert!(!may_have_landed(attempt), "{attempt:?}");
            assert!(
                matches!(
                    decide(attempt, 0, Resend::CheckFirst, &policy(), 0.0),
                    Decision::RetryAfter(_)
                ),
                "{attempt:?}"
            );
        }
    }

    #[test]
    fn final_answers_did_not_land() {
        for s in [400, 401, 404, 422] {
            assert!(!may_have_landed(status(s)), "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("99999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("1e300", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
