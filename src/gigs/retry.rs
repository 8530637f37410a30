//! Whether to send a request again, as a pure function of what happened to
//! the last attempt and what the request has spent so far ([`Spent`]).
//!
//! Retried: connection errors, timeouts and other transport failures, the
//! statuses 408, 429, 500, 502, 503 and 504, and answers that break the
//! protocol (a redirect, a body over the cap, an object that is not the one
//! asked for: [`Attempt::Protocol`]), which are treated like a 5xx. Every
//! other status is final (a 4xx means the request itself is wrong, and
//! sending it again cannot help).
//!
//! Two budgets, because a 429 is "slow down", not "fail":
//! - `--max-retries` counts failures: transport errors, 408, 5xx and protocol
//!   errors. A 429 does not use it up.
//! - `--max-wait` bounds the whole request, 429s included: a wait that would
//!   end after the request's deadline is not waited; the request stops
//!   at once, so a `Retry-After` of days fails fast instead of hanging.
//!
//! The wait is the server's `Retry-After` when it gives one, else an
//! exponential backoff with "equal jitter": half of the doubled step is fixed,
//! the other half random, so that workers refused together do not come back
//! together, yet none comes back at once. A 429 without `Retry-After` backs off
//! on its own, shorter scale ([`Policy::refusal_cap`]): the limit of a token
//! bucket refills within a second or two, and a long step would idle the run.
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
//! - a protocol error: a 200 with the wrong body may follow a create that
//!   was made;
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
    /// An answer that is not one the API gives: a redirect, a body over the
    /// cap, or a JSON object other than the one asked for.
    Protocol,
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
    /// The wait asked for (or the next backoff) ends after the request's
    /// `--max-wait` deadline: give up now rather than wait for nothing.
    OutOfTime(Duration),
    /// Send the same request again after this wait.
    RetryAfter(Duration),
    /// The attempt may have landed: give the error to the caller, which
    /// checks for its effect and may send again after this wait.
    Check(Duration),
}

/// What one request has spent so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spent {
    /// Retries after failures (not after 429s): the `--max-retries` budget.
    pub retries: u32,
    /// 429s answered to this request so far (the step of their backoff).
    pub refusals: u32,
    /// Time left before the request's `--max-wait` deadline.
    pub left: Duration,
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
    /// No backoff step after a 429 without `Retry-After` is longer than this.
    pub refusal_cap: Duration,
}

impl Policy {
    pub fn new(max_retries: u32) -> Self {
        Policy {
            max_retries,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            refusal_cap: Duration::from_secs(2),
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
        Attempt::Protocol => true,
    }
}

/// Decides after an attempt, given what the request has `spent` (this
/// attempt not yet counted). `jitter` is in `0..1`.
pub fn decide(
    attempt: Attempt,
    spent: Spent,
    resend: Resend,
    policy: &Policy,
    jitter: f64,
) -> Decision {
    let retry_after = match attempt {
        Attempt::Answered { status, .. } if !is_retryable_status(status) => {
            return Decision::Stop;
        }
        Attempt::Answered {
            status: 429,
            retry_after,
        } => {
            let wait =
                retry_after.unwrap_or_else(|| refusal_backoff(spent.refusals, policy, jitter));
            return if wait > spent.left {
                Decision::OutOfTime(wait)
            } else {
                Decision::RetryAfter(wait)
            };
        }
        Attempt::Answered { retry_after, .. } => retry_after,
        Attempt::Transport(_) | Attempt::Protocol => None,
    };
    if spent.retries >= policy.max_retries {
        return Decision::Stop;
    }
    let wait = retry_after.unwrap_or_else(|| backoff(spent.retries, policy, jitter));
    if wait > spent.left {
        Decision::OutOfTime(wait)
    } else if resend == Resend::CheckFirst && may_have_landed(attempt) {
        Decision::Check(wait)
    } else {
        Decision::RetryAfter(wait)
    }
}

/// `base · 2^n`, capped, of which the upper half is random.
pub fn backoff(retries_done: u32, policy: &Policy, jitter: f64) -> Duration {
    jittered_step(retries_done, policy.base, policy.cap, jitter)
}

/// The wait after the `n+1`th 429 without `Retry-After`: the same doubling,
/// capped at [`Policy::refusal_cap`].
pub fn refusal_backoff(refusals: u32, policy: &Policy, jitter: f64) -> Duration {
    jittered_step(refusals, policy.base, policy.refusal_cap, jitter)
}

fn jittered_step(n: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let step = base.saturating_mul(1u32 << n.min(16)).min(cap);
    let jitter = jitter.clamp(0.0, 1.0);
    step / 2 + step.mul_f64(jitter / 2.0)
}

/// The longest `Retry-After` read: a larger one (or a date years ahead) is
/// taken as this. It only keeps instants from overflowing: `--max-wait`
/// decides how long a request really waits.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

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

    /// `retries` spent, no 429 yet, and a quarter of an hour left.
    fn spent(retries: u32) -> Spent {
        Spent {
            retries,
            refusals: 0,
            left: Duration::from_secs(900),
        }
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
                decide(status(s), spent(0), Resend::CheckFirst, &policy(), 0.5),
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
                decide(attempt, spent(0), Resend::Safe, &policy(), 0.0),
                Decision::RetryAfter(Duration::from_millis(100)),
                "{attempt:?}"
            );
        }
    }

    #[test]
    fn retries_stop_after_the_limit() {
        for resend in [Resend::Safe, Resend::CheckFirst] {
            assert_ne!(
                decide(status(503), spent(4), resend, &policy(), 0.0),
                Decision::Stop
            );
            assert_eq!(
                decide(status(503), spent(5), resend, &policy(), 0.0),
                Decision::Stop
            );
            assert_eq!(
                decide(status(503), spent(0), resend, &Policy::new(0), 0.0),
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
            decide(refused, spent(0), Resend::Safe, &policy(), 0.9),
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
                decide(attempt, spent(1), Resend::CheckFirst, &policy(), 0.0),
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
                    decide(attempt, spent(0), Resend::CheckFirst, &policy(), 0.0),
                    Decision::RetryAfter(_)
                ),
                "{attempt:?}"
            );
        }
    }

    #[test]
    fn a_429_does_not_use_up_the_retries() {
        let refused = Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(1)),
        };
        for retries in [0, 5, 50] {
            assert_eq!(
                decide(refused, spent(retries), Resend::CheckFirst, &policy(), 0.0),
                Decision::RetryAfter(Duration::from_secs(1)),
                "{retries}"
            );
        }
        assert_eq!(
            decide(refused, spent(0), Resend::Safe, &Policy::new(0), 0.0),
            Decision::RetryAfter(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_wait_past_the_deadline_is_not_waited() {
        let asked = |secs| Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(secs)),
        };
        let left = |secs| Spent {
            left: Duration::from_secs(secs),
            ..spent(0)
        };
        assert_eq!(
            decide(asked(999_999), left(900), Resend::Safe, &policy(), 0.0),
            Decision::OutOfTime(Duration::from_secs(999_999))
        );
        assert_eq!(
            decide(asked(30), left(30), Resend::Safe, &policy(), 0.0),
            Decision::RetryAfter(Duration::from_secs(30)),
            "a wait that ends at the deadline is waited"
        );
        let unavailable = Attempt::Answered {
            status: 503,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            decide(unavailable, left(59), Resend::CheckFirst, &policy(), 0.0),
            Decision::OutOfTime(Duration::from_secs(60))
        );
        // With nothing left, even a backoff is too long.
        assert_eq!(
            decide(status(500), left(0), Resend::Safe, &policy(), 0.0),
            Decision::OutOfTime(Duration::from_millis(100))
        );
    }

    #[test]
    fn a_429_without_retry_after_backs_off_on_its_own_short_scale() {
        let refused = status(429);
        let after = |refusals| Spent {
            refusals,
            ..spent(3)
        };
        assert_eq!(
            decide(refused, after(0), Resend::Safe, &policy(), 0.0),
            Decision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            decide(refused, after(1), Resend::Safe, &policy(), 1.0),
            Decision::RetryAfter(Duration::from_millis(400))
        );
        assert_eq!(
            decide(refused, after(40), Resend::Safe, &policy(), 1.0),
            Decision::RetryAfter(policy().refusal_cap)
        );
    }

    #[test]
    fn a_protocol_error_is_retried_like_a_5xx() {
        assert!(may_have_landed(Attempt::Protocol));
        assert_eq!(
            decide(Attempt::Protocol, spent(0), Resend::Safe, &policy(), 0.0),
            Decision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            decide(
                Attempt::Protocol,
                spent(1),
                Resend::CheckFirst,
                &policy(),
                0.0
            ),
            Decision::Check(Duration::from_millis(200))
        );
        assert_eq!(
            decide(Attempt::Protocol, spent(5), Resend::Safe, &policy(), 0.0),
            Decision::Stop
        );
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
