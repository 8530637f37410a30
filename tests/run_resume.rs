//! Crash safety: a run killed with SIGKILL (or stopped with Ctrl-C) and then
//! resumed leaves exactly one subscription per SIM, and a result file with
//! each manifest line exactly once, in order.

mod common;

use std::time::{Duration, Instant};

use common::*;
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
    let sims = iccid_batch(30, 60);
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
    let sims = iccid_batch(31, 4);
    let world = World::with_stock(&sims);
    let user = world.user("u@x.example");
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
    let sims = iccid_batch(32, 2);
    let world = World::with_stock(&sims);
    let user = world.user("u@x.example");
    world.write("a.csv", &manifest("iccid", &sims[..1]));
    world.write("b.csv", &manifest("iccid", &sims[1..]));
    let out = world.run(&["a.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(out.status.code(), Some(0));

    let before = std::fs::read_to_string(world.path("r.csv")).unwrap();

    let out = world.run(&["b.csv", "-o", "r.csv", "--user", &user, "--resume"]);

    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("do not match"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(world.path("r.csv")).unwrap(),
        before,
        "the previous results are left exactly as they were"
    );
    assert!(!world.path("r.csv.journal").exists());
    assert!(!world.path("r.csv.tmp").exists());
    assert_eq!(
        world.counter("subscriptionsCreated"),
        1,
        "b.csv sent nothing"
    );
}

#[test]
fn resume_refuses_results_with_lines_the_manifest_lacks() {
    let sims = iccid_batch(35, 3);
    let world = World::with_stock(&sims);
    let user = world.user("u@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = std::fs::read_to_string(world.path("r.csv")).unwrap();
    world.write("m.csv", &manifest("iccid", &sims[..2]));

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);

    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("do not match"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(world.path("r.csv")).unwrap(),
        before
    );
    assert!(!world.path("r.csv.journal").exists());
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_rows_in_flight_and_says_how_to_resume() {
    let sims = iccid_batch(33, 60);
    let world = slow_world(&sims);
    let user = world.user("u@x.example");
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

    // A plain re-run does not throw the partial results away.
    let before = std::fs::read_to_string(world.path("r.csv")).unwrap();
    let plain = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(plain.status.code(), Some(2), "{}", stderr(&plain));
    assert!(stderr(&plain).contains("--resume"), "{}", stderr(&plain));
    assert_eq!(
        std::fs::read_to_string(world.path("r.csv")).unwrap(),
        before
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&world.path("r.csv")).len(), 60);
    assert!(world.subscriptions_per_sim().values().all(|&n| n == 1));
}

#[test]
fn resume_accepts_iccid_cells_that_look_like_formulas() {
    let sims = iccid_batch(34, 2);
    let world = World::with_stock(&sims);
    let user = world.user("u@x.example");
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

/// Sends SIGINT, as Ctrl-C does.
#[cfg(unix)]
fn interrupt(child: &std::process::Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid this test spawned and still waits for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_resume_keeps_the_rows_finished_after_the_stop_point() {
    let sims = iccid_batch(36, 200);
    let world = slow_world(&sims);
    let user = world.user("u@x.example");
    // The previous run onboarded lines 102-201 and failed 2-101 with
    // api_error: a manifest whose first 100 rows are blank puts them there.
    let blank_then_last: Vec<String> = std::iter::repeat(String::new())
        .take(100)
        .chain(sims[100..].iter().cloned())
        .collect();
    world.write("m.csv", &manifest("iccid", &blank_then_last));
    let args = ["m.csv", "-o", "r.csv", "--user", &user];
    let out = world.run(&[&args[..], &["--concurrency", "8"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let onboarded = results(&world.path("r.csv"));
    assert_eq!(onboarded.first().map(|l| l.line), Some(102));
    assert_eq!(onboarded.len(), 100);
    let mut previous =
        String::from("line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id\n");
    for (i, sim) in sims[..100].iter().enumerate() {
        previous.push_str(&format!("{},{sim},failed,api_error,503,,,,\n", i + 2));
    }
    let text = std::fs::read_to_string(world.path("r.csv")).unwrap();
    previous.push_str(text.split_once('\n').unwrap().1);
    world.write("r.csv", &previous);
    world.write("m.csv", &manifest("iccid", &sims));

    let resume = [&args[..], &["--resume", "--concurrency", "2"]].concat();
    let child = world.spawn(&resume);
    wait_for_journal(&world, 5);
    interrupt(&child);
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    let partial = results(&world.path("r.csv"));
    let rerun = partial.iter().filter(|l| l.line <= 101).count();
    assert!((5..100).contains(&rerun), "{rerun} rows of 2-101 ran");
    for before in &onboarded {
        let after = line(&partial, before.line);
        assert_eq!(
            (&after.outcome, &after.subscription_id),
            (&before.outcome, &before.subscription_id),
            "line {} was finished before the interrupted resume",
            before.line
        );
    }

    let out = world.run(&[&args[..], &["--resume", "--concurrency", "8"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let numbers: Vec<u64> = lines.iter().map(|l| l.line).collect();
    assert_eq!(
        numbers,
        (2..=201).collect::<Vec<u64>>(),
        "each line once, in order"
    );
    assert!(lines.iter().all(|l| l.outcome == "onboarded"));
    assert!(!world.path("r.csv.journal").exists());
    let per_sim = world.subscriptions_per_sim();
    assert_eq!(per_sim.len(), 200);
    assert!(per_sim.values().all(|&n| n == 1), "{per_sim:?}");
}
