//! `--resume` after the manifest was edited: a kept row is kept only while
//! its manifest row is unchanged; a changed row runs again and ends as a
//! fresh row would, and duplicates are judged against the manifest as it is
//! now.

mod common;

use common::*;
use serde_json::json;

/// The id of the user with this email, searched as the API does.
fn user_id(world: &World, email: &str) -> String {
    let (status, body) = world.post("/users/search", json!({ "email": email }));
    assert_eq!(status, 200, "{body}");
    ids(&body).pop().unwrap_or_default()
}

#[test]
fn a_user_missing_row_runs_again_once_its_email_is_filled_in() {
    let sims = iccid_batch(81, 2);
    let world = World::with_stock(&sims);
    let rows = [format!("{},a@x.example", sims[0]), format!("{},", sims[1])];
    world.write("m.csv", &manifest("iccid,email", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    failed(&results(&world.path("r.csv")), 3, "user_missing");
    let first = results(&world.path("r.csv"));

    let rows = [rows[0].clone(), format!("{},b@x.example", sims[1])];
    world.write("m.csv", &manifest("iccid,email", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(line(&lines, 3).outcome, "onboarded", "{lines:?}");
    assert_eq!(line(&lines, 3).user_id, user_id(&world, "b@x.example"));
    assert_eq!(
        line(&lines, 2).subscription_id,
        line(&first, 2).subscription_id,
        "the unchanged row is kept"
    );
    assert_eq!(world.counter("subscriptionsCreated"), 2);
}

#[test]
fn an_onboarded_row_whose_email_changed_runs_again() {
    let sims = iccid_batch(82, 2);
    let world = World::with_stock(&sims);
    let rows = [
        format!("{},a@x.example", sims[0]),
        format!("{},c@x.example", sims[1]),
    ];
    world.write("m.csv", &manifest("iccid,email", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = results(&world.path("r.csv"));

    let rows = [format!("{},b@x.example", sims[0]), rows[1].clone()];
    world.write("m.csv", &manifest("iccid,email", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);

    let lines = results(&world.path("r.csv"));
    let row = line(&lines, 2);
    assert_eq!(row.extra, ["b@x.example"]);
    assert_ne!(
        row.user_id,
        line(&first, 2).user_id,
        "the old user's id is not shown beside the new email: {row:?}"
    );
    // The SIM is subscribed for a@x.example, not for the row's new email.
    let message = failed(&lines, 2, "sim_in_use");
    assert!(!message.is_empty());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        line(&lines, 3).subscription_id,
        line(&first, 3).subscription_id
    );
}

#[test]
fn a_duplicate_runs_again_once_the_first_of_its_iccids_is_corrected() {
    let sims = iccid_batch(83, 4);
    let world = World::with_stock(&sims);
    let user = world.user("u@x.example");
    let (x, y) = (&sims[0], &sims[1]);
    let mut rows = vec![x.clone(), x.clone(), sims[2].clone(), sims[3].clone()];
    world.write("m.csv", &manifest("iccid", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let first = results(&world.path("r.csv"));
    assert_eq!(line(&first, 3).reason, "duplicate");

    rows[0] = y.clone();
    world.write("m.csv", &manifest("iccid", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--resume"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(line(&lines, 2).iccid, *y);
    assert_eq!(line(&lines, 2).outcome, "onboarded");
    assert_eq!(
        line(&lines, 3).outcome,
        "already_onboarded",
        "the repeat is no longer a duplicate: its SIM was onboarded by line 2 before"
    );
    assert_eq!(
        line(&lines, 4).subscription_id,
        line(&first, 4).subscription_id
    );
    assert!(world.subscriptions_per_sim().values().all(|&n| n == 1));
}

#[test]
fn unchanged_rows_are_kept_and_cost_no_request() {
    let sims = iccid_batch(84, 3);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .map(|s| format!("{s},a@x.example,=cmd"))
        .collect();
    world.write("m.csv", &manifest("iccid,email,note", &rows));
    let out = world.run(&["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = world.counter("requestsTotal");

    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        world.counter("requestsTotal"),
        requests + 1,
        "only the preflight: cells that look like formulas compare equal"
    );
}
