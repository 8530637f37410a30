//! Crash safety: a run killed with SIGKILL (or stopped with Ctrl-C) and then
//! resumed leaves exactly one subscription per SIM, and a result file with
//! each manifest line exactly once, in order.

#[path = "common/run_env.rs"]
mod env;

use std::time::{Duration, Instant};

use env::*;
use simboard::emulator::EmulatorConfig;

/// Waits (bounded) until the journal holds at least `rows` rows.
fn wait_for_journal(world: &World, rows: usize) {
    let journal = world.path("r.csv.journal");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = std::fs::read_to_string(&journal)
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if lines >= rows {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the journal never reached {rows} rows"
        );
        std::thread::yield_now();
    }
}

fn slow_world(sims: &[String]) -> World {
    World::start(EmulatorConfig {
        latency: Duration::from_millis(15),
        ..config(sims)
    })
}

#[test]
fn a_run_killed_mid_way_and_resumed_onboards_each_sim_once() {
    let sims = iccids(30, 60);
    let world = slow_world(&sims);
    let rows: Vec<String> = sims
        .iter()
        .map(|s| format!("{s},k@x.example,Kay"))
        .collect();
    world.write("m.csv", &manifest("iccid,email,full_name", &rows));

    let mut child = world.spawn(&["m.csv", "-o", "r.csv", "--concurrency", "3"]);
    wait_for_journal(&world, 10);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        !world.path("r.csv").exists(),
        "the run was killed before the end"
    );
    let done_before = world.counter("subscriptionsCreated");
    assert!(done_before < 60, "the kill came too late to test anything");

    // A new run without --resume would lose the journal: it refuses.
    let out = world.run(&["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));

    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 60, "each line once");
    assert!(lines
        .iter()
        .all(|l| l.outcome == "onboarded" || l.outcome == "already_onboarded"));
    assert!(
        !world.path("r.csv.journal").exists(),
        "the journal is gone at the end"
    );
    let per_sim = world.subscriptions_per_sim();
    assert_eq!(per_sim.len(), 60);
    assert!(per_sim.values().all(|&n| n == 1), "{per_sim:?}");
    assert_eq!(world.counter("usersCreated"), 1);
    assert!(stderr(&out).contains("kept"), "{}", stderr(&out));
}

#[test]
fn resume_keeps_final_rows_and_runs_the_rest() {
    let sims = iccids(31, 4);
    let world = World::with_stock(&sims);
    let user = world.create_user("u@x.example");
    let mut rows = sims.clone();
    rows.push("89883070000007537118".into()); // invalid
    world.write("m.csv", &manifest("iccid", &rows));

    // A dry run leaves would_onboard rows, which a resumed real run sends.
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let first = results(&world.path("r.csv"));
    assert_eq!(first.iter().filter(|l| l.outcome == "onboarded").count(), 4);
    let searches = world.counter("requestsTotal");

    // Everything is final now: resuming again sends nothing but the preflight.
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);
    assert_eq!(out.status.code(), Some(1));
    let again = results(&world.path("r.csv"));
    assert_eq!(again.len(), 5);
    assert_eq!(again[4].reason, "invalid_check_digit");
    assert_eq!(world.counter("requestsTotal"), searches + 1);
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(
            (&a.subscription_id, &a.outcome),
            (&b.subscription_id, &b.outcome)
        );
    }
}

#[test]
fn resume_refuses_results_of_another_manifest() {
    let sims = iccids(32, 2);
    let world = World::with_stock(&sims);
    let user = world.create_user("u@x.example");
    world.write("a.csv", &manifest("iccid", &sims[..1]));
    world.write("b.csv", &manifest("iccid", &sims[1..]));
    let out = world.run(&["a.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(out.status.code(), Some(0));

    let out = world.run(&["b.csv", "-o", "r.csv", "--user", &user, "--resume"]);

    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("do not match"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_rows_in_flight_and_says_how_to_resume() {
    let sims = iccids(33, 60);
    let world = slow_world(&sims);
    let user = world.create_user("u@x.example");
    world.write("m.csv", &manifest("iccid", &sims));

    let child = world.spawn(&[
        "m.csv",
        "-o",
        "r.csv",
        "--user",
        &user,
        "--concurrency",
        "2",
    ]);
    wait_for_journal(&world, 5);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    let partial = results(&world.path("r.csv"));
    assert!(
        !partial.is_empty() && partial.len() < 60,
        "{}",
        partial.len()
    );
    assert!(partial.iter().all(|l| l.outcome == "onboarded"));
    assert_eq!(
        world.counter("subscriptionsCreated"),
        partial.len() as u64,
        "no row was lost in flight"
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&world.path("r.csv")).len(), 60);
    assert!(world.subscriptions_per_sim().values().all(|&n| n == 1));
}

#[test]
fn resume_accepts_iccid_cells_that_look_like_formulas() {
    let sims = iccids(34, 2);
    let world = World::with_stock(&sims);
    let user = world.create_user("u@x.example");
    let rows = vec![
        sims[0].clone(),
        "-".to_owned(),
        "=1+1".to_owned(),
        sims[1].clone(),
    ];
    world.write("m.csv", &manifest("iccid", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let dry = results(&world.path("r.csv"));
    assert_eq!(
        (dry[1].iccid.as_str(), dry[2].iccid.as_str()),
        ("'-", "'=1+1")
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let numbers: Vec<u64> = lines.iter().map(|l| l.line).collect();
    assert_eq!(numbers, [2, 3, 4, 5], "each line once");
    assert_eq!(lines[0].outcome, "onboarded");
    assert_eq!(
        (lines[1].iccid.as_str(), lines[1].outcome.as_str()),
        ("'-", "invalid")
    );
    assert_eq!(
        (lines[2].iccid.as_str(), lines[2].outcome.as_str()),
        ("'=1+1", "invalid")
    );
    assert_eq!(lines[3].outcome, "onboarded");
}
