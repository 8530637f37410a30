//! `simboard run` when the API misbehaves: rate limits, 5xx errors, and
//! subscription creates that are committed and then answered by a closed
//! connection. Every row must still be onboarded, and no SIM may get a second
//! subscription.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::stub::{self, Stub};
use common::*;
use serde_json::json;
use simboard::emulator::EmulatorConfig;

/// `simboard run m.csv -o r.csv --user usr_1` against a scripted server.
fn run_stubbed(stub: &Stub, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    stub.run(dir, &[&["--user", "usr_1"], args].concat())
}

const USER: &str = r#"{"object":"user","id":"usr_1","email":"u@x.example","status":"active"}"#;

fn faulty(sims: &[String], tweak: impl FnOnce(&mut EmulatorConfig)) -> World {
    let mut config = EmulatorConfig {
        latency: Duration::from_millis(2),
        ..config(sims)
    };
    tweak(&mut config);
    World::start(config)
}

fn assert_each_sim_onboarded_once(world: &World, sims: &[String], out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), sims.len());
    for l in &lines {
        assert!(
            l.outcome == "onboarded" || l.outcome == "already_onboarded",
            "line {}: {} {} {}",
            l.line,
            l.outcome,
            l.reason,
            l.message
        );
    }
    let per_sim = world.subscriptions_per_sim();
    assert_eq!(per_sim.len(), sims.len(), "{per_sim:?}");
    assert!(
        per_sim.values().all(|&n| n == 1),
        "a SIM got two subscriptions: {per_sim:?}"
    );
}

#[test]
fn under_rate_limits_5xx_and_dropped_creates_every_sim_is_onboarded_once() {
    let sims = iccid_batch(20, 40);
    let world = faulty(&sims, |c| {
        c.rate = Some(200.0);
        c.fail_rate = 0.15;
        c.drop_rate = 0.25;
        c.seed = 7;
    });
    let rows: Vec<String> = sims
        .iter()
        .map(|s| format!("{s},fleet@x.example"))
        .collect();
    world.write("m.csv", &manifest("iccid,email", &rows));

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--concurrency",
        "8",
        "--max-retries",
        "12",
    ]);

    assert_each_sim_onboarded_once(&world, &sims, &out);
    let counters = &world.state()["counters"];
    assert!(counters["faultsInjected"].as_u64() > Some(0), "{counters}");
    assert!(counters["dropped"].as_u64() > Some(0), "{counters}");
    assert_eq!(counters["usersCreated"], json!(1), "{counters}");
    assert!(stderr(&out).contains("retries"), "{}", stderr(&out));
}

#[test]
fn rate_limits_are_learnt_not_bounced_off() {
    // About 120 requests, three seconds at the limit: with the project read
    // in one page, each row costs one call, so it takes 120 rows; with
    // fewer, the 429s of the first second alone would make the share.
    let sims = iccid_batch(21, 120);
    let world = faulty(&sims, |c| c.rate = Some(40.0));
    let user = world.user("u@x.example");
    world.write("m.csv", &manifest("iccid", &sims));

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--user",
        &user,
        "--concurrency",
        "8",
    ]);

    assert_each_sim_onboarded_once(&world, &sims, &out);
    let state = world.state();
    let refused = state["counters"]["rateLimited"].as_u64().unwrap();
    let total = state["counters"]["requestsTotal"].as_u64().unwrap();
    assert!(
        refused * 10 <= total,
        "{refused} of {total} requests were refused"
    );
}

#[test]
fn dropped_creates_with_idempotency_keys_are_settled_too() {
    let sims = iccid_batch(22, 12);
    let world = faulty(&sims, |c| {
        c.drop_rate = 0.5;
        c.seed = 3;
    });
    let user = world.user("u@x.example");
    world.write("m.csv", &manifest("iccid", &sims));

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--user",
        &user,
        "--idempotency-keys",
    ]);

    assert_each_sim_onboarded_once(&world, &sims, &out);
    assert!(world.counter("dropped") > 0);
}

#[test]
fn a_sim_already_used_by_an_initiated_subscription_of_this_row_is_already_onboarded() {
    // The API lists only pending and active subscriptions unless asked: an
    // `initiated` one is found only by asking for it.
    let iccid = iccid_batch(23, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "inactive");
    let creates = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&creates);
    let stub = Stub::start(move |method, path, _| match (method, path) {
        (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
        (_, p) if p.contains("/users/usr_1") => (200, USER.to_owned()),
        ("POST", p) if p.ends_with("/subscriptions") => {
            counted.fetch_add(1, Ordering::SeqCst);
            (422, stub::error("invalid", "simAlreadyUsed"))
        }
        ("GET", p) if p.contains("/subscriptions?") && p.contains("initiated") => (
            200,
            stub::list(&[stub::subscription("sub_1", "sim_1", "initiated")]),
        ),
        ("GET", p) if p.contains("/subscriptions?") => (200, stub::list(&[])),
        _ => (404, stub::error("notFound", "")),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), manifest("iccid", &[iccid])).unwrap();

    let out = run_stubbed(&stub, dir.path(), &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let l = line(&lines, 2);
    assert_eq!(
        (l.outcome.as_str(), l.subscription_id.as_str()),
        ("already_onboarded", "sub_1"),
        "{}",
        l.message
    );
    assert_eq!(creates.load(Ordering::SeqCst), 1);
}

/// A server whose subscription creates answer 500 while `fails` of them
/// last; `lands` says whether such a failed create is committed all the same.
/// Returns the stub and the log of subscription calls (`POST` and `GET`).
fn failing_creates(
    iccid: &str,
    fails: usize,
    lands: bool,
) -> (Stub, Arc<std::sync::Mutex<Vec<&'static str>>>) {
    let found = stub::sim("sim_1", iccid, "inactive");
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let committed = Arc::new(AtomicUsize::new(0));
    let stub = Stub::start(move |method, path, _| {
        let sub = || stub::subscription("sub_1", "sim_1", "pending");
        match (method, path) {
            (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
            (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
            (_, p) if p.contains("/users/usr_1") => (200, USER.to_owned()),
            ("POST", p) if p.ends_with("/subscriptions") => {
                let mut log = log.lock().unwrap();
                log.push("POST");
                if committed.load(Ordering::SeqCst) > 0 {
                    return (422, stub::error("invalid", "simAlreadyUsed"));
                }
                if log.iter().filter(|c| **c == "POST").count() <= fails {
                    if lands {
                        committed.fetch_add(1, Ordering::SeqCst);
                    }
                    return (500, stub::error("unknown", "unknown"));
                }
                committed.fetch_add(1, Ordering::SeqCst);
                (201, sub())
            }
            ("GET", p) if p.contains("/subscriptions?") => {
                log.lock().unwrap().push("GET");
                let items = if committed.load(Ordering::SeqCst) > 0 {
                    vec![sub()]
                } else {
                    vec![]
                };
                (200, stub::list(&items))
            }
            _ => (404, stub::error("notFound", "")),
        }
    });
    (stub, calls)
}

fn one_row(iccid: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &[iccid.to_owned()]),
    )
    .unwrap();
    dir
}

#[test]
fn a_create_answered_500_that_landed_is_found_not_sent_again() {
    let iccid = iccid_batch(24, 1).remove(0);
    let (stub, calls) = failing_creates(&iccid, 1, true);
    let dir = one_row(&iccid);

    let out = run_stubbed(&stub, dir.path(), &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let l = line(&lines, 2);
    assert_eq!(
        (l.outcome.as_str(), l.subscription_id.as_str()),
        ("onboarded", "sub_1")
    );
    assert!(l.message.contains("looking up the SIM"), "{}", l.message);
    assert_eq!(
        *calls.lock().unwrap(),
        // A look is two asks: the `sim` filter alone, then `initiated`.
        ["POST", "GET", "GET"],
        "one create, then a look"
    );
}

#[test]
fn a_create_answered_500_that_did_not_land_is_looked_up_then_sent_again() {
    let iccid = iccid_batch(25, 1).remove(0);
    let (stub, calls) = failing_creates(&iccid, 2, false);
    let dir = one_row(&iccid);

    let out = run_stubbed(&stub, dir.path(), &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    assert_eq!(line(&lines, 2).outcome, "onboarded");
    assert_eq!(
        *calls.lock().unwrap(),
        // A look is two asks: the `sim` filter alone, then `initiated`.
        ["POST", "GET", "GET", "POST", "GET", "GET", "POST"],
        "every create that may have landed is checked before the next"
    );
}

#[test]
fn checks_between_creates_share_the_retry_budget() {
    let iccid = iccid_batch(26, 1).remove(0);
    let (stub, calls) = failing_creates(&iccid, 10, false);
    let dir = one_row(&iccid);

    let out = run_stubbed(&stub, dir.path(), &["--max-retries", "1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let message = failed(&lines, 2, "api_error");
    assert!(message.contains("HTTP 500"), "{message}");
    // A look is two asks: the `sim` filter alone, then `initiated`.
    assert_eq!(
        *calls.lock().unwrap(),
        ["POST", "GET", "GET", "POST", "GET", "GET"]
    );
}

/// A server whose SIM search answers one SIM with `answered_iccid`, and
/// whose creates succeed; returns it and its count of creates.
fn search_answers(answered_iccid: &str) -> (Stub, Arc<AtomicUsize>) {
    let found = stub::sim("sim_1", answered_iccid, "inactive");
    let creates = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&creates);
    let stub = Stub::start(move |method, path, _| match (method, path) {
        (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
        (_, p) if p.contains("/users/usr_1") => (200, USER.to_owned()),
        ("POST", p) if p.ends_with("/subscriptions") => {
            counted.fetch_add(1, Ordering::SeqCst);
            (201, stub::subscription("sub_1", "sim_1", "pending"))
        }
        ("GET", p) if p.contains("/subscriptions?") => (200, stub::list(&[])),
        _ => (404, stub::error("notFound", "")),
    });
    (stub, creates)
}

#[test]
fn a_search_that_answers_another_iccid_is_sim_not_found() {
    let mut two = iccid_batch(27, 2);
    let (row, other) = (two.remove(0), two.remove(0));
    let (stub, creates) = search_answers(&other);
    let dir = one_row(&row);

    let out = run_stubbed(&stub, dir.path(), &[]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    failed(&results(&dir.path().join("r.csv")), 2, "sim_not_found");
    assert_eq!(creates.load(Ordering::SeqCst), 0, "nothing is created");
}

#[test]
fn a_19_digit_iccid_matches_its_sim_with_or_without_the_f_padding() {
    let payload = "898830700280000001";
    let row = format!(
        "{payload}{}",
        simboard::iccid::luhn_check_digit(payload.as_bytes())
    );
    for answered in [format!("{row}F"), format!("{row}f"), row.clone()] {
        let (stub, creates) = search_answers(&answered);
        let dir = one_row(&row);

        let out = run_stubbed(&stub, dir.path(), &[]);

        assert_eq!(out.status.code(), Some(0), "{answered}: {}", stderr(&out));
        let lines = results(&dir.path().join("r.csv"));
        assert_eq!(line(&lines, 2).outcome, "onboarded", "{answered}");
        assert_eq!(creates.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn an_email_search_that_ran_out_of_retries_is_tried_again_by_the_next_row() {
    let sims = iccid_batch(28, 2);
    // The search answers both SIMs; each row takes the one with its ICCID.
    let found = stub::list(&[
        stub::sim_object("sim_1", &sims[0], "inactive"),
        stub::sim_object("sim_2", &sims[1], "inactive"),
    ]);
    let searches = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&searches);
    let stub = Stub::start(move |method, path, _| match (method, path) {
        (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
        (_, p) if p.ends_with("/users/search") => {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                (503, stub::error("unknown", "serviceUnavailable"))
            } else {
                (200, stub::list(&[USER.to_owned()]))
            }
        }
        ("POST", p) if p.ends_with("/subscriptions") => {
            (201, stub::subscription("sub_2", "sim_2", "pending"))
        }
        _ => (404, stub::error("notFound", "")),
    });
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = sims.iter().map(|s| format!("{s},u@x.example")).collect();
    std::fs::write(dir.path().join("m.csv"), manifest("iccid,email", &rows)).unwrap();

    let out = stub.run(dir.path(), &["--max-retries", "0", "--concurrency", "1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let message = failed(&lines, 2, "api_error");
    assert!(message.contains("HTTP 503"), "{message}");
    assert_eq!(
        line(&lines, 3).outcome,
        "onboarded",
        "{}",
        line(&lines, 3).message
    );
    assert_eq!(searches.load(Ordering::SeqCst), 2);
}
