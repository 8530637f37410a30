//! `simboard run` when the API misbehaves: rate limits, 5xx errors, and
//! subscription creates that are committed and then answered by a closed
//! connection. Every row must still be onboarded, and no SIM may get a second
//! subscription.

#[path = "common/run_env.rs"]
mod env;
#[path = "common/run_stub.rs"]
mod stub;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use env::*;
use serde_json::json;
use simboard::emulator::EmulatorConfig;
use stub::Stub;

/// `simboard run m.csv -o r.csv --user usr_1` against a scripted server.
fn run_stubbed(stub: &Stub, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(dir)
        .env("GIGS_TOKEN", "sk_stub")
        .args(["run", "m.csv", "-o", "r.csv", "--user", "usr_1"])
        .args(["--project", "p", "--api-url", &stub.url])
        .args(args)
        .output()
        .unwrap()
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
    let sims = iccids(20, 40);
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
    let sims = iccids(21, 60);
    let world = faulty(&sims, |c| c.rate = Some(40.0));
    let user = world.create_user("u@x.example");
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
    let sims = iccids(22, 12);
    let world = faulty(&sims, |c| {
        c.drop_rate = 0.5;
        c.seed = 3;
    });
    let user = world.create_user("u@x.example");
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
    let iccid = iccids(23, 1).remove(0);
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
