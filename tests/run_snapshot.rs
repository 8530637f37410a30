//! Snapshot resolution (`--resolve`): what each strategy costs, that the
//! answers do not depend on it, and that the snapshot is only a view at the
//! start of the run. Costs are read from the emulator's request counters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;
use simboard::gigs::{Client, ClientConfig, Token};
use simboard::onboard::{Onboarder, RowRequest, Settings};
use simboard::results::Outcome;
use simboard::snapshot::{Resolve, Snapshot, Wanted};

/// The emulator's count of requests to one route (0 when none).
fn route_count(world: &World, route: &str) -> u64 {
    world.state()["counters"]["requests"][route]
        .as_u64()
        .unwrap_or(0)
}

/// Runs simboard with `--resolve mode` and the extra `args`, and answers
/// the result lines and the requests it sent (the emulator's count).
fn run_in(world: &World, mode: &str, out: &str, args: &[&str]) -> (Vec<Line>, u64) {
    let before = world.counter("requestsTotal");
    let mut all = vec!["m.csv", "-o", out, "--resolve", mode];
    all.extend_from_slice(args);
    let output = world.run(&all);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{mode}: {}",
        stderr(&output)
    );
    let spent = world.counter("requestsTotal") - before;
    (results(&world.path(out)), spent)
}

/// What a user compares between two result files.
fn answers(lines: &[Line]) -> Vec<(u64, String, String, String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l.line,
                l.outcome.clone(),
                l.reason.clone(),
                l.message.clone(),
                l.sim_id.clone(),
            )
        })
        .collect()
}

#[test]
fn a_dry_run_covering_the_project_reads_it_in_pages_and_looks_nothing_up() {
    let sims = iccid_batch(41, 450);
    let world = World::with_stock(&sims);
    world.write("m.csv", &manifest("iccid", &sims));
    let user = world.user("fleet@x.example");

    let (snapshot, spent) = run_in(&world, "snapshot", "s.csv", &["--dry-run", "--user", &user]);
    let (search, searched) = run_in(&world, "search", "q.csv", &["--dry-run", "--user", &user]);
    let (auto, auto_spent) = run_in(&world, "auto", "a.csv", &["--dry-run", "--user", &user]);

    assert_eq!(answers(&snapshot), answers(&search));
    assert_eq!(answers(&auto), answers(&search));
    assert!(snapshot.iter().all(|l| l.outcome == "would_onboard"));
    // The plans, the user, 3 pages of SIMs and 1 of subscriptions for each
    // of the 3 live statuses (listed apart: never a comma list).
    assert_eq!(spent, 8, "snapshot");
    assert_eq!(
        searched,
        2 + 3 * 450,
        "search: a SIM search and a lookup (two asks) per row"
    );
    assert_eq!(
        auto_spent, spent,
        "auto reads the whole project when it pays off"
    );
}

#[test]
fn auto_gives_up_a_listing_longer_than_the_lookups_it_would_save() {
    // 3 rows among the oldest of 2,000 SIMs: the listing is 10 pages long,
    // and the rows' SIMs are on its last one.
    let sims = iccid_batch(42, 2000);
    for dry_run in [true, false] {
        // A world per mode: a real run changes the project.
        let run = |mode: &str| {
            let world = World::with_stock(&sims);
            world.write("m.csv", &manifest("iccid", &sims[..3]));
            let user = world.user("fleet@x.example");
            // One at a time: the emulator's ids then follow the same order.
            let mut args = vec!["--user", user.as_str(), "--concurrency", "1"];
            if dry_run {
                args.push("--dry-run");
            }
            run_in(&world, mode, "r.csv", &args)
        };
        let (search, searched) = run("search");
        let (auto, auto_spent) = run("auto");
        assert_eq!(answers(&auto), answers(&search), "dry run: {dry_run}");
        assert!(
            auto_spent <= 2 * searched,
            "dry run {dry_run}: auto spent {auto_spent}, search {searched}"
        );
    }
}

#[test]
fn the_listing_stops_once_every_iccid_of_the_manifest_is_seen() {
    // A new batch is listed first: its 150 SIMs are on the first page of 1,000.
    let old = iccid_batch(43, 850);
    let new = iccid_batch(44, 150);
    let world = World::with_stock(&[old, new.clone()].concat());
    world.write("m.csv", &manifest("iccid", &new));
    let user = world.user("fleet@x.example");

    let (lines, _) = run_in(&world, "snapshot", "s.csv", &["--dry-run", "--user", &user]);

    assert!(lines.iter().all(|l| l.outcome == "would_onboard"));
    assert_eq!(route_count(&world, "GET /projects/{project}/sims"), 1);
    assert_eq!(
        route_count(&world, "POST /projects/{project}/sims/search"),
        0
    );
}

#[test]
fn new_emails_cost_their_creates_and_one_page_of_users() {
    let sims = iccid_batch(45, 30);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{s},person{i}@x.example"))
        .collect();
    world.write("m.csv", &manifest("iccid,email", &rows));

    let output = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(results(&world.path("r.csv"))
        .iter()
        .all(|l| l.outcome == "onboarded"));
    // Plans, SIMs, users: a page each; then a user and a subscription per row.
    assert_eq!(world.counter("requestsTotal"), 3 + 2 * 30);
    assert_eq!(
        route_count(&world, "POST /projects/{project}/users/search"),
        0
    );
    let err = stderr(&output);
    assert!(err.contains("resolve: auto"), "{err}");
    assert!(err.contains("30 SIMs read in 1 page"), "{err}");
}

/// A client of the library for this emulator, as `simboard run` makes it.
fn library_client(world: &World) -> Client {
    Client::new(ClientConfig {
        base_url: world.url.clone(),
        project: world.project.clone(),
        token: Token::new(world.token.clone()),
        max_retries: 0,
        max_wait: Duration::from_secs(30),
        rate: None,
        connections: 2,
        log: None,
        notice: None,
    })
    .unwrap()
}

#[test]
fn a_sim_subscribed_by_another_client_after_the_snapshot_is_settled_as_without_one() {
    let sims = iccid_batch(46, 2);
    let world = World::with_stock(&sims);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let ours = world.user("ours@x.example");
    let theirs = world.user("theirs@x.example");
    let client = library_client(&world);
    let mut wanted = Wanted::default();
    sims.iter().for_each(|s| wanted.add(s));
    let snapshot = Snapshot::take(&client, Resolve::Snapshot, &wanted, false, &|_| {})
        .unwrap()
        .expect("a snapshot");
    // After the snapshot, another client subscribes both SIMs: one to the
    // plan and user the rows ask for, one to somebody else.
    let same = world.subscribe(&plan, &world.sim_id(&sims[0]), &ours);
    let other = world.subscribe(&plan, &world.sim_id(&sims[1]), &theirs);
    let settings = Settings {
        project: world.project.clone(),
        plan: Some(plan.clone()),
        user: Some(ours.clone()),
        ..Default::default()
    };
    let plans = client.list_plans().unwrap();
    let with = Onboarder::new(client.clone(), settings.clone(), plans.clone())
        .with_snapshot(Some(Arc::new(snapshot)));
    let without = Onboarder::new(client, settings, plans);
    let row = |iccid: &String| RowRequest {
        iccid: iccid.clone(),
        ..Default::default()
    };
    let searches_before = route_count(&world, "POST /projects/{project}/sims/search");

    let first = with.onboard(&row(&sims[0])).unwrap();
    let second = with.onboard(&row(&sims[1])).unwrap();

    assert_eq!(
        first.outcome(),
        Outcome::AlreadyOnboarded,
        "{}",
        first.message
    );
    assert_eq!(first.subscription_id, same);
    assert_eq!(second.reason, "sim_in_use");
    assert!(second.message.contains(&other), "{}", second.message);
    // The SIMs came from the snapshot; the create was refused with
    // simAlreadyUsed and the SIM looked up, as without a snapshot.
    let state: Value = world.state();
    let requests = &state["counters"]["requests"];
    assert_eq!(
        route_count(&world, "POST /projects/{project}/sims/search"),
        searches_before
    );
    assert_eq!(requests["POST /projects/{project}/subscriptions"], 2 + 2);
    // Without the snapshot (the SIMs are active now, so looked up first),
    // the same outcome, reason, message and ids of SIM and subscription.
    let said = |r: &simboard::onboard::RowResult| {
        (
            r.outcome(),
            r.reason,
            r.message.clone(),
            r.sim_id.clone(),
            r.subscription_id.clone(),
        )
    };
    assert_eq!(
        said(&without.onboard(&row(&sims[0])).unwrap()),
        said(&first)
    );
    assert_eq!(
        said(&without.onboard(&row(&sims[1])).unwrap()),
        said(&second)
    );
}

#[test]
fn a_sim_missing_from_the_snapshot_is_searched_before_it_is_not_found() {
    let sims = iccid_batch(47, 3);
    let world = World::with_stock(&sims[..2]);
    world.write("m.csv", &manifest("iccid", &sims));
    let user = world.user("fleet@x.example");

    let (lines, _) = run_in(&world, "snapshot", "s.csv", &["--dry-run", "--user", &user]);

    failed(&lines, 4, "sim_not_found");
    assert_eq!(
        route_count(&world, "POST /projects/{project}/sims/search"),
        1
    );
}

#[test]
fn resume_reads_the_project_again() {
    let sims = iccid_batch(48, 3);
    let world = World::with_stock(&sims);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let ours = world.user("ours@x.example");
    let theirs = world.user("theirs@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let args = [
        "m.csv",
        "-o",
        "r.csv",
        "--user",
        &ours,
        "--resolve",
        "snapshot",
    ];
    // A dry run leaves would_onboard rows, which a resumed real run sends.
    let out = world.run(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = route_count(&world, "GET /projects/{project}/sims");
    // Meanwhile another client takes the first SIM.
    let other = world.subscribe(&plan, &world.sim_id(&sims[0]), &theirs);

    let out = world.run(&[&args[..], &["--resume"]].concat());

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert!(failed(&lines, 2, "sim_in_use").contains(&other));
    assert_eq!(line(&lines, 3).outcome, "onboarded");
    assert_eq!(line(&lines, 4).outcome, "onboarded");
    assert_eq!(
        route_count(&world, "GET /projects/{project}/sims"),
        listed + 1
    );
    // The fresh snapshot knew the SIM taken: no create was sent for it.
    assert_eq!(
        route_count(&world, "POST /projects/{project}/subscriptions"),
        1 + 2
    );
}

#[test]
fn auto_pays_for_one_page_of_users_per_email_and_searches_the_rest() {
    // Five users served one per page; each manifest names one new email.
    let sims = iccid_batch(49, 1);
    let count = |mode: &str| {
        let world = World::start(simboard::emulator::EmulatorConfig {
            page_cap: Some(1),
            ..config(&sims)
        });
        for i in 0..5 {
            world.user(&format!("old{i}@x.example"));
        }
        world.write(
            "m.csv",
            &manifest("iccid,email", &[format!("{},new@x.example", sims[0])]),
        );
        let (lines, _) = run_in(&world, mode, "r.csv", &[]);
        assert_eq!(line(&lines, 2).outcome, "onboarded", "{mode}");
        (
            route_count(&world, "GET /projects/{project}/users"),
            route_count(&world, "POST /projects/{project}/users/search"),
        )
    };

    assert_eq!(count("auto"), (1, 1), "one page, then the search");
    assert_eq!(count("snapshot"), (5, 0), "every page, no search");
    assert_eq!(count("search"), (0, 1));
}

#[test]
fn a_sim_the_snapshot_shows_held_is_looked_up_again_before_its_row_is_judged() {
    let sims = iccid_batch(50, 3);
    let world = World::with_stock(&sims);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let ours = world.user("ours@x.example");
    let theirs = world.user("theirs@x.example");
    let other = world.subscribe(&plan, &world.sim_id(&sims[0]), &theirs);
    world.write("m.csv", &manifest("iccid", &sims));

    let (lines, _) = run_in(
        &world,
        "snapshot",
        "r.csv",
        &["--dry-run", "--user", &ours, "--plan", &plan],
    );

    assert!(failed(&lines, 2, "sim_in_use").contains(&other));
    assert_eq!(line(&lines, 3).outcome, "would_onboard");
    assert_eq!(line(&lines, 4).outcome, "would_onboard");
    // One page of subscriptions per live status, then the held SIM's own
    // lookup (two asks: the `sim` filter alone, then `initiated`).
    assert_eq!(
        route_count(&world, "GET /projects/{project}/subscriptions"),
        3 + 2
    );
}
