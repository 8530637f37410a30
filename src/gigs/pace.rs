//! The pacer every request passes before it is sent, shared by all workers.
//!
//! It spaces requests evenly at the lower of two rates: the fixed cap of
//! `--rate`, if any, and a rate learnt from the server's 429 answers. Until the
//! first 429 nothing is learnt and requests go out as fast as the workers send
//! them. A 429 pauses *every* worker until its `Retry-After`, not only the one
//! refused, because the limit is the project's, not the connection's.
//!
//! # Learning the rate
//!
//! Gigs publishes no limits, so assume the usual token bucket: `r` tokens a
//! second, at most `B` kept. A 429 means the bucket is empty at that moment.
//! Between two 429s, then, every answered request used a token that was
//! refilled in between, so `answered / elapsed` between two 429s is exactly `r`,
//! or less when the bucket was full for a while and dropped tokens. It is a
//! lower bound that needs no knowledge of `B`. Before the first 429 there is no
//! such anchor: `answered / elapsed` since the start also counts the `B` tokens
//! the bucket began with, so it overestimates `r`, by `B/T`.
//!
//! That overestimate can be absurd: a bucket emptied by an unpaced start in
//! 30 ms reads as 40 answers / 0.03 s = 1,300/s against a limit of 40/s.
//! Paced at that, the workers go out together again the moment the pause
//! ends, the bucket (full again after a pause of a second) empties at once,
//! and every request in flight is refused: a second burst of refusals as
//! large as the first. So the first 429 counts the pause too: the answers are
//! spread over the time until the server takes requests again,
//! `answered / (T + Retry-After)`, which for the usual bucket of about one
//! second's worth of requests is close to `r`; pace at 95% of that. As it may
//! also be an underestimate (a bucket much smaller than a second's worth), the
//! pace then doubles every 2 s (`FIRST_DOUBLING`) towards the overestimate
//! until a second 429 gives the anchored estimate (a storm, see below, turns
//! this slow climb into the quick one). At every later 429, pace at
//! 95% of the anchored estimate. Then probe upward by 0.5% of the learnt rate
//! per second, so that a limit that was underestimated or has grown is found
//! again.
//!
//! The cost, with the benchmark's numbers (r = 100/s, 8 workers, 30 ms of
//! latency, so about 250 requests/s unpaced, and `B` around 100): the first
//! 429 comes after `B / (250 - r)` ≈ 0.7 s, with ~167 answers: the pace is
//! `0.95 · 167 / 1.7` ≈ 95/s. Climbing from there, the bucket empties again
//! some 2 s later at about twice `r`, and from then on the pace is the
//! anchored 95/s. Each 429 costs a whole second of `Retry-After`, and each
//! refuses the requests in flight (at most one per worker). Probing at 0.5%/s
//! crosses `r` again only after ~10 s, and then needs `sqrt(2·B/(0.005·r))`
//! ≈ 20 s more to empty a bucket of 100, so a long run sees one 429 about
//! every half minute: a 3% loss.
//!
//! # Storms, and coming back from them
//!
//! A 429 with no answer at all since the previous one (a storm: the server
//! refuses everything, whatever the pace) measures nothing; the pace is halved
//! (down to a floor of 0.5/s), so that a server that stays closed is not
//! hammered the moment each pause ends. The last rate measured from answers
//! is kept as the *ceiling*, and a pace below it doubles every half second
//! (slow start, as TCP does after a loss) until it is back there; only above
//! the ceiling does the 0.5%/s probe apply. From the floor to 1,000/s is 11
//! doublings, 5.5 s: within 10 s of the storm's last 429 (1 s of
//! `Retry-After`, then the climb) the run is back at its earlier pace. A limit
//! that really dropped meanwhile is met by the next 429, which has answers
//! behind it and so sets a new, lower ceiling.
//!
//! A measurement needs a sample: between two 429s, fewer than
//! `MIN_SAMPLE` answers (those in flight, or to other routes while a storm
//! refuses one) are not a rate but part of the storm, which halves the pace
//! and leaves the ceiling alone. Taken as a rate, counted over the storm's
//! pauses, they once set the ceiling near the floor, and a run went on at
//! about one row a second for minutes after the storm. Only the first 429 of
//! a run, having nothing better, measures from any number of answers.
//!
//! A 429 that answers a request sent *before* the current pause began belongs
//! to the same burst (it was in flight): it may lengthen the pause but teaches
//! nothing new.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The learnt rate grows by this share of itself per second without a 429.
const PROBE_PER_SECOND: f64 = 0.005;
/// Never pace slower than this, whatever was learnt.
pub const MIN_RATE: f64 = 0.5;
/// The fewest answers between two 429s that measure a rate (the first 429
/// of a run measures from any number).
const MIN_SAMPLE: f64 = 16.0;
/// Below the ceiling, the pace doubles in this time.
const RECOVERY_DOUBLING: f64 = 0.5;
/// After the first 429, before any rate was measured between two 429s, the
/// pace doubles in this time towards the first, optimistic estimate.
const FIRST_DOUBLING: f64 = 2.0;
/// A pause longer than this is announced on stderr, even without `-v`.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(10);

/// Why [`Pacer::acquire`] gave no turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// The run was interrupted while the worker waited.
    Interrupted,
    /// Everyone is paused (a `Retry-After`) for this long from now, which
    /// ends after the caller's deadline.
    PastDeadline(Duration),
}

#[derive(Debug)]
pub struct Pacer {
    cap: Option<f64>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The earliest moment the next request may go out.
    next_slot: Instant,
    /// No request goes out before this (a `Retry-After`).
    paused_until: Instant,
    /// When the latest burst of 429s began.
    burst_began: Option<Instant>,
    /// The learnt rate and when it was set (the probe grows from there).
    learnt: Option<(f64, Instant)>,
    /// The last rate measured from answers: what a storm's halvings climb
    /// back to quickly. Before a rate was measured between two 429s, the
    /// first estimate, climbed to slowly.
    ceiling: Option<Ceiling>,
    /// Requests answered with anything but 429, i.e. tokens the server spent.
    answered: u64,
    /// The first request; the origin of the unanchored estimate.
    started: Option<Instant>,
    /// `(when, answered)` at the latest 429: the anchor of the next estimate.
    anchor: Option<(Instant, u64)>,
}

/// What a pace below it climbs back to, doubling every `doubling` seconds.
#[derive(Clone, Copy, Debug)]
struct Ceiling {
    rate: f64,
    doubling: f64,
}

impl Ceiling {
    /// A rate measured from the answers between two 429s.
    fn measured(rate: f64) -> Self {
        Ceiling {
            rate,
            doubling: RECOVERY_DOUBLING,
        }
    }
}

impl Pacer {
    /// `cap` is `--rate`, in requests per second.
    pub fn new(cap: Option<f64>) -> Self {
        let now = Instant::now();
        Pacer {
            cap: cap.filter(|c| c.is_finite() && *c > 0.0),
            state: Mutex::new(State {
                next_slot: now,
                paused_until: now,
                burst_began: None,
                learnt: None,
                ceiling: None,
                answered: 0,
                started: None,
                anchor: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked while holding the lock leaves consistent
        // numbers behind: go on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this worker's turn, and returns the moment it was given.
    /// Gives up when `interrupted` turns true while it waits (it is asked
    /// between short naps, so a long pause never holds up a Ctrl-C), and at
    /// once when everyone is paused past `deadline`.
    pub fn acquire(
        &self,
        deadline: Option<Instant>,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Instant, Held> {
        loop {
            let now = Instant::now();
            let slot = {
                let mut s = self.lock();
                s.started.get_or_insert(now);
                if s.paused_until > now {
                    Err(s.paused_until)
                } else {
                    let slot = s.next_slot.max(now);
                    let rate = self.rate_at(&s, slot);
                    s.next_slot = match rate {
                        Some(rate) => slot.checked_add(interval(rate)).unwrap_or(slot),
                        None => slot,
                    };
                    Ok(slot)
                }
            };
            let wait_until = match slot {
                Err(until) if deadline.is_some_and(|d| until > d) => {
                    return Err(Held::PastDeadline(until - now));
                }
                Err(until) => until,
                Ok(slot) => slot,
            };
            let wait = wait_until.saturating_duration_since(Instant::now());
            if !wait.is_zero() && !nap(wait, interrupted) {
                return Err(Held::Interrupted);
            }
            // A 429 may have paused everyone while this one slept.
            if let Ok(slot) = slot {
                if self.lock().paused_until <= Instant::now() {
                    return Ok(slot);
                }
            }
        }
    }

    /// The pace at `at`: the lower of the cap and the (probed) learnt rate.
    fn rate_at(&self, s: &State, at: Instant) -> Option<f64> {
        let learnt = s
            .learnt
            .map(|(rate, since)| probe(rate, s.ceiling, at.saturating_duration_since(since)));
        match (self.cap, learnt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Any answer but a 429: the server spent a token on it.
    pub fn answered(&self) {
        self.lock().answered += 1;
    }

    /// A 429 for a request sent at `sent`; everyone waits `wait` from now.
    /// Returns the pause to announce, if this refusal began or lengthened a
    /// pause beyond [`ANNOUNCE_WAIT`] (once per pause, not once per worker).
    pub fn refused(&self, sent: Instant, wait: Duration) -> Option<Duration> {
        self.refused_at(Instant::now(), sent, wait)
    }

    fn refused_at(&self, now: Instant, sent: Instant, wait: Duration) -> Option<Duration> {
        let mut s = self.lock();
        let until = now.checked_add(wait).unwrap_or(now + MAX_INTERVAL);
        let before = s.paused_until;
        s.paused_until = before.max(until);
        s.next_slot = s.next_slot.max(s.paused_until);
        let announce =
            (wait > ANNOUNCE_WAIT && until > before.max(now) + ANNOUNCE_WAIT).then_some(wait);
        if s.burst_began.is_some_and(|began| sent < began) {
            return announce;
        }
        s.burst_began = Some(now);
        let (since, before) = match s.anchor {
            Some((at, answered)) => (at, answered),
            None => (s.started.unwrap_or(now), 0),
        };
        let secs = now.saturating_duration_since(since).as_secs_f64();
        let answered = (s.answered - before) as f64;
        // A few answers between two 429s are those in flight or on other
        // routes during a storm, not a measure of the limit.
        let measured = answered >= MIN_SAMPLE || (s.learnt.is_none() && answered > 0.0);
        if secs > 0.0 && measured {
            // The pause is part of the next interval, so the probe starts
            // when it ends.
            if s.anchor.is_some() {
                let rate = (0.95 * answered / secs).max(MIN_RATE);
                s.learnt = Some((rate, s.paused_until));
                s.ceiling = Some(Ceiling::measured(rate));
            } else {
                let spread = secs + wait.as_secs_f64();
                let rate = (0.95 * answered / spread).max(MIN_RATE);
                s.learnt = Some((rate, s.paused_until));
                s.ceiling = Some(Ceiling {
                    rate: (0.9 * answered / secs).max(rate),
                    doubling: FIRST_DOUBLING,
                });
            }
        } else if let Some((rate, since)) = s.learnt {
            // A storm: halve what the pace had reached, not what it began at.
            let reached = probe(rate, s.ceiling, now.saturating_duration_since(since));
            s.learnt = Some(((reached / 2.0).max(MIN_RATE), s.paused_until));
            // The slow climb is for the first estimate alone; from a storm's
            // halvings the pace comes back quickly, whatever the ceiling.
            if let Some(ceiling) = &mut s.ceiling {
                ceiling.doubling = RECOVERY_DOUBLING;
            }
        }
        s.anchor = Some((now, s.answered));
        announce
    }

    /// The pace learnt so far, for the summary.
    pub fn learnt_rate(&self) -> Option<f64> {
        let s = self.lock();
        self.rate_at(&s, Instant::now())
    }
}

/// The pace `elapsed` after a rate was set: doubling (every
/// [`RECOVERY_DOUBLING`], or [`FIRST_DOUBLING`] before any measure) up to
/// the ceiling, and beyond it (or without one) growing by [`PROBE_PER_SECOND`].
fn probe(rate: f64, ceiling: Option<Ceiling>, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    match ceiling {
        Some(Ceiling {
            rate: ceiling,
            doubling,
        }) if ceiling > rate && rate > 0.0 => {
            let climb = doubling * (ceiling / rate).log2();
            if secs < climb {
                rate * 2f64.powf(secs / doubling)
            } else {
                ceiling * (1.0 + PROBE_PER_SECOND * (secs - climb))
            }
        }
        _ => rate * (1.0 + PROBE_PER_SECOND * secs),
    }
}

/// A pace for people: never "0" (a pace is at least [`MIN_RATE`]), one
/// decimal below 10/s, whole numbers above.
pub fn describe_rate(rate: f64) -> String {
    if !rate.is_finite() {
        return "unlimited".to_owned();
    }
    if rate < 10.0 {
        let tenths = (rate * 10.0).round().max(1.0);
        format!("{:.1}", tenths / 10.0)
    } else {
        format!("{rate:.0}")
    }
}

/// The longest single sleep: how long an interruption may go unnoticed.
const NAP: Duration = Duration::from_millis(100);

/// Sleeps `wait` in naps of at most `NAP`; false (early) when `interrupted`
/// turns true.
pub fn nap(wait: Duration, interrupted: &dyn Fn() -> bool) -> bool {
    let until = Instant::now().checked_add(wait);
    loop {
        if interrupted() {
            return false;
        }
        let left = match until {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => NAP,
        };
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(NAP));
    }
}

/// The longest gap between two requests, whatever the rate: a rate of next
/// to nothing (a typo, or an estimate gone wrong) must neither overflow a
/// `Duration` nor stall a run for ages.
const MAX_INTERVAL: Duration = Duration::from_secs(100);

/// The gap between two requests at `rate` per second.
fn interval(rate: f64) -> Duration {
    if rate.is_nan() || rate <= 0.0 {
        return MAX_INTERVAL;
    }
    Duration::try_from_secs_f64(1.0 / rate)
        .unwrap_or(MAX_INTERVAL)
        .min(MAX_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_until_told_otherwise() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        for _ in 0..100 {
            pacer.acquire(None, &|| false).unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(50));
        assert_eq!(pacer.learnt_rate(), None);
    }

    #[test]
    fn a_cap_spaces_requests() {
        let pacer = Pacer::new(Some(200.0));
        let start = Instant::now();
        for _ in 0..11 {
            pacer.acquire(None, &|| false).unwrap();
        }
        // Ten intervals of 5 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(49),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn an_interruption_ends_a_long_pause_at_once() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        pacer.answered();
        pacer.refused(sent, Duration::from_secs(3600));
        let start = Instant::now();
        let asked = std::sync::atomic::AtomicU32::new(0);
        // Interrupted at the second look: the pause is left within a nap.
        let interrupted = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1;
        assert_eq!(pacer.acquire(None, &interrupted), Err(Held::Interrupted));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(nap(Duration::from_millis(1), &|| false));
        assert!(!nap(Duration::MAX, &|| true));
    }

    #[test]
    fn intervals_never_overflow() {
        assert_eq!(interval(200.0), Duration::from_millis(5));
        for rate in [1e-25, 0.0, -1.0, f64::NAN, f64::MIN_POSITIVE] {
            assert_eq!(interval(rate), MAX_INTERVAL, "{rate}");
        }
        assert_eq!(interval(f64::INFINITY), Duration::ZERO);
        // A pacer built with an absurd cap hands out its first slot at once
        // and does not panic.
        let pacer = Pacer::new(Some(1e-25));
        let start = Instant::now();
        pacer.acquire(None, &|| false).unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_refusal_pauses_everyone_and_learns_a_rate() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        for _ in 0..50 {
            pacer.answered();
        }
        std::thread::sleep(Duration::from_millis(20));
        pacer.refused(sent, Duration::from_millis(30));
        let learnt = pacer.learnt_rate().expect("a rate is learnt");
        assert!(learnt > 10.0, "{learnt}");
        let before = Instant::now();
        pacer.acquire(None, &|| false).unwrap();
        assert!(before.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn refusals_in_flight_belong_to_the_same_burst() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        for _ in 0..10 {
            pacer.answered();
        }
        std::thread::sleep(Duration::from_millis(5));
        pacer.refused(sent, Duration::ZERO);
        let first = pacer.learnt_rate().unwrap();
        pacer.refused(sent, Duration::ZERO);
        let second = pacer.learnt_rate().unwrap();
        assert!(
            (second - first).abs() / first < 0.01,
            "{first} then {second}"
        );
    }

    #[test]
    fn the_anchored_estimate_is_the_refill_rate() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        pacer.answered();
        pacer.refused(sent, Duration::ZERO);
        // 40 answers over ~100 ms between two 429s: about 400/s, paced at 95%.
        let anchor = Instant::now();
        for _ in 0..40 {
            pacer.answered();
        }
        std::thread::sleep(Duration::from_millis(100));
        let sent = pacer.acquire(None, &|| false).unwrap();
        let elapsed = anchor.elapsed().as_secs_f64();
        pacer.refused(sent, Duration::ZERO);
        let learnt = pacer.learnt_rate().unwrap();
        let expected = 0.95 * 40.0 / elapsed;
        assert!(
            (learnt - expected).abs() / expected < 0.1,
            "{learnt} vs {expected}"
        );
    }

    #[test]
    fn a_pause_past_the_deadline_gives_up_at_once() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        pacer.refused(sent, Duration::from_secs(3600));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        match pacer.acquire(Some(deadline), &|| false) {
            Err(Held::PastDeadline(left)) => assert!(left > Duration::from_secs(3500), "{left:?}"),
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_long_pause_is_announced_once() {
        let pacer = Pacer::new(None);
        let sent = pacer.acquire(None, &|| false).unwrap();
        assert_eq!(pacer.refused(sent, Duration::from_secs(5)), None, "short");
        assert_eq!(
            pacer.refused(sent, Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
        // The other workers refused in the same moment add nothing new.
        assert_eq!(pacer.refused(sent, Duration::from_secs(60)), None);
        assert_eq!(
            pacer.refused(sent, Duration::from_secs(600)),
            Some(Duration::from_secs(600)),
            "a much longer pause is news"
        );
    }

    /// A pacer whose first 429 anchored at a start, then 1,000 answers over
    /// the next 10 s and a second 429 measured 95/s: the pacer, the moment of
    /// that second 429, and the rate it learnt.
    fn measured_at_95() -> (Pacer, Instant, f64) {
        let pacer = Pacer::new(None);
        let t0 = Instant::now();
        pacer.lock().started = Some(t0);
        pacer.refused_at(t0, t0, Duration::ZERO);
        pacer.lock().answered += 1000;
        let calm = t0 + Duration::from_secs(10);
        pacer.refused_at(calm, calm, Duration::ZERO);
        let before = pacer.rate_at(&pacer.lock(), calm).unwrap();
        (pacer, calm, before)
    }

    #[test]
    fn after_a_storm_the_pace_is_back_within_ten_seconds() {
        let (pacer, calm, before) = measured_at_95();
        assert!((before - 95.0).abs() < 0.01, "{before}");
        // Ten seconds of nothing but 429s, each a new burst after a 1 s pause.
        let mut last = calm;
        for i in 1..=10 {
            last = calm + Duration::from_secs(i);
            pacer.refused_at(last, last, Duration::from_secs(1));
        }
        let at = |secs: f64| pacer.rate_at(&pacer.lock(), last + Duration::from_secs_f64(secs));
        let floor = at(1.0).unwrap();
        assert!(floor <= 1.0, "the storm slowed the pace: {floor}");
        assert!(at(10.0).unwrap() >= 0.9 * before, "{:?}", at(10.0));
        assert!(at(1000.0).unwrap() > before, "then it probes above");
    }

    #[test]
    fn the_first_estimate_counts_the_pause_and_climbs_slowly() {
        let pacer = Pacer::new(None);
        let t0 = Instant::now();
        pacer.lock().started = Some(t0);
        // An unpaced start empties a bucket of 40 (refilled at 40/s) in 30 ms.
        pacer.lock().answered += 41;
        let refused = t0 + Duration::from_millis(30);
        pacer.refused_at(refused, refused, Duration::from_secs(1));
        let resumed = refused + Duration::from_secs(1);
        let at = |secs: f64| {
            let s = pacer.lock();
            pacer
                .rate_at(&s, resumed + Duration::from_secs_f64(secs))
                .unwrap()
        };
        // 41 answers over the 1.03 s until the server takes requests again.
        assert!((at(0.0) - 0.95 * 41.0 / 1.03).abs() < 0.1, "{}", at(0.0));
        assert!(at(1.0) < 2.0 * 40.0, "no second unpaced burst: {}", at(1.0));
        // Should the bucket be much smaller than a second's worth, the pace
        // climbs out of the underestimate, towards 41 / 0.03 s.
        assert!(at(4.0) > 3.9 * at(0.0), "{}", at(4.0));
        assert!(at(60.0) >= 0.9 * 41.0 / 0.03, "{}", at(60.0));
    }

    #[test]
    fn a_storm_right_after_the_first_estimate_is_climbed_out_of_quickly() {
        let pacer = Pacer::new(None);
        let t0 = Instant::now();
        pacer.lock().started = Some(t0);
        pacer.lock().answered += 45;
        let first = t0 + Duration::from_millis(100);
        pacer.refused_at(first, first, Duration::from_secs(1));
        let estimate = pacer.rate_at(&pacer.lock(), first).unwrap();
        let mut last = first;
        for i in 1..=19 {
            last = first + Duration::from_millis(1010 * i);
            pacer.refused_at(last, last, Duration::from_secs(1));
        }
        // Back above the first estimate within 10 s of the storm's last 429.
        let after = pacer.rate_at(&pacer.lock(), last + Duration::from_secs(10));
        assert!(after.unwrap() >= estimate, "{after:?} vs {estimate}");
    }

    #[test]
    fn answers_trickling_in_during_a_storm_do_not_pin_the_pace_low() {
        let (pacer, calm, before) = measured_at_95();
        // A storm on one route: each 429 pauses everyone for 1 s, and a few
        // answers to other requests come back before the next one.
        let mut last = calm;
        for i in 1..=10 {
            pacer.lock().answered += 3;
            last = calm + Duration::from_millis(1010 * i);
            pacer.refused_at(last, last, Duration::from_secs(1));
        }
        let after = pacer.rate_at(&pacer.lock(), last + Duration::from_secs(10));
        assert!(after.unwrap() >= 0.9 * before, "{after:?} vs {before}");
    }

    #[test]
    fn a_pace_is_never_described_as_zero() {
        assert_eq!(describe_rate(MIN_RATE), "0.5");
        assert_eq!(describe_rate(0.01), "0.1");
        assert_eq!(describe_rate(9.96), "10.0");
        assert_eq!(describe_rate(95.4), "95");
    }
}
