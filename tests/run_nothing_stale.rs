//! Nothing stale decides an outcome. Two runs of one manifest at once, on
//! different result files (a retry from a second terminal): nothing one run
//! remembers may decide a row against what the other one did; each SIM ends
//! with one subscription, and a SIM the other run subscribed for this row's
//! plan and user is `already_onboarded`, never `sim_in_use`. And a lookup
//! that failed for a transient reason never ends a row for good.

mod common;

use std::time::Duration;

use common::stub::{self, Stub};
use common::*;
use simboard::emulator::EmulatorConfig;

#[test]
fn two_runs_of_one_manifest_with_one_new_email_never_end_a_row_sim_in_use() {
    let sims = iccid_batch(91, 120);
    let world = World::start(EmulatorConfig {
        latency: Duration::from_millis(2),
        ..config(&sims)
    });
    let rows: Vec<String> = sims.iter().map(|s| format!("{s},new@x.example")).collect();
    world.write("m.csv", &manifest("iccid,email", &rows));
    let plan = world.plan_where("a plain p4 pSIM plan", plain_p4_psim);
    let args = |out: &'static str| {
        vec![
            "m.csv".to_owned(),
            "-o".to_owned(),
            out.to_owned(),
            "--plan".to_owned(),
            plan.clone(),
            "--concurrency".to_owned(),
            "4".to_owned(),
        ]
    };
    let a_args = args("a.csv");
    let b_args = args("b.csv");
    let a_refs: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let b_refs: Vec<&str> = b_args.iter().map(String::as_str).collect();

    let a = world.spawn(&a_refs);
    let b = world.spawn(&b_refs);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());

    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    for out in ["a.csv", "b.csv"] {
        let lines = results(&world.path(out));
        assert_eq!(lines.len(), 120);
        let wrong: Vec<_> = lines.iter().filter(|l| l.reason == "sim_in_use").collect();
        assert!(wrong.is_empty(), "{out}: {wrong:?}");
    }
    assert!(world.subscriptions_per_sim().values().all(|&n| n == 1));
    assert_eq!(world.counter("usersCreated"), 1);
}

#[test]
fn a_user_search_that_keeps_failing_leaves_the_row_for_resume_not_sim_in_use() {
    let iccid = iccid_batch(92, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "active");
    let held = stub::list(&[stub::subscription("sub_1", "sim_1", "active")]);
    let stub = Stub::start(move |_, path, _| match path {
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, found.clone()),
        p if p.contains("/subscriptions") => (200, held.clone()),
        p if p.contains("/users/search") => (503, stub::error("unavailable", "unavailable")),
        _ => (404, stub::error("notFound", "not_found")),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        format!("iccid,email\n{iccid},a@x.example\n"),
    )
    .unwrap();

    let out = stub.run(dir.path(), &["--max-retries", "0"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    failed(&lines, 2, "api_error");
}
