//! `simboard run` when the API misbehaves: rate limits, 5xx errors, and
//! subscription creates that are committed and then answered by a closed
//! connection. Every row must still be onboarded, and no SIM may get a second
//! subscription.

#[path = "common/run_env.rs"]
mod env;

use std::time::Duration;

use env::*;
use serde_json::json;
use simboard::emulator::EmulatorConfig;

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
