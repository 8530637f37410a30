//! `simboard run` against the emulator, one story per outcome: a manifest is
//! written, the real binary runs over HTTP, and each line's outcome and
//! reason are read back from the result CSV and checked against the
//! emulator's state.

mod common;

use common::*;
use serde_json::json;
use simboard::emulator::EmulatorConfig;

#[test]
fn a_clean_manifest_is_onboarded_with_automatic_plan_pairing() {
    let sims = iccid_batch(1, 6);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, iccid)| {
            let who = ["ana@acme.example", "Ops@Acme.example"][i % 2];
            format!("{iccid},{who},Person {i},TRK-{i}")
        })
        .collect();
    world.write("m.csv", &manifest("iccid,email,full_name,device_id", &rows));

    let out = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 6);
    for (l, iccid) in lines.iter().zip(&sims) {
        assert_eq!(l.outcome, "onboarded", "line {}: {}", l.line, l.message);
        assert_eq!(&l.iccid, iccid);
        assert_eq!(
            l.plan_id, plan,
            "line {} is paired with the one plain p4 plan",
            l.line
        );
        assert!(l.sim_id.starts_with("sim_") && l.user_id.starts_with("usr_"));
        assert!(l.subscription_id.starts_with("sub_"));
        assert!(
            l.message.contains("pending") || l.message.contains("active"),
            "line {}: {}",
            l.line,
            l.message
        );
        assert_eq!(
            l.extra[2],
            format!("TRK-{}", l.line - 2),
            "manifest columns carried"
        );
    }
    assert_eq!(world.counter("usersCreated"), 2, "one user per email");
    assert_eq!(world.counter("subscriptionsCreated"), 6);
    assert!(
        stderr(&out).contains("per onboarded SIM"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sim_problems_each_have_their_reason_and_cost_no_create() {
    let stocked = iccid_batch(2, 1);
    let unknown = iccid_batch(3, 1);
    let world = World::with_stock(&stocked);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let text = manifest(
        "iccid",
        &[
            stocked[0].clone(),            // line 2: fine
            unknown[0].clone(),            // line 3: not in the project
            "89424242420000037469".into(), // line 4: the test eSIM
            "89883070000007537118".into(), // line 5: bad check digit
            stocked[0].clone(),            // line 6: duplicate of line 2
        ],
    );
    world.write("m.csv", &text);

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--plan",
        &plan,
        "--user",
        &world.user("a@x.example"),
    ]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 5);
    assert_eq!(line(&lines, 2).outcome, "onboarded");
    let msg = failed(&lines, 3, "sim_not_found");
    assert!(msg.contains("associated with the project"), "{msg}");
    let msg = failed(&lines, 4, "sim_not_psim");
    assert!(msg.contains("eSIM"), "{msg}");
    assert_eq!(
        (
            line(&lines, 5).outcome.as_str(),
            line(&lines, 5).reason.as_str()
        ),
        ("invalid", "invalid_check_digit")
    );
    assert_eq!(
        (
            line(&lines, 6).outcome.as_str(),
            line(&lines, 6).reason.as_str()
        ),
        ("invalid", "duplicate")
    );
    let state = world.state();
    let searches = &state["counters"]["requests"]["POST /projects/{project}/sims/search"];
    // Lines 2, 3 and 4: invalid rows cost no call. With a snapshot, line 2's
    // SIM is in it, and lines 3 and 4 are misses, each confirmed by a search.
    let expected = if resolve_mode() == "search" { 3 } else { 2 };
    assert_eq!(searches.as_u64(), Some(expected), "{}", state["counters"]);
    assert_eq!(world.counter("subscriptionsCreated"), 1);
}

#[test]
fn a_retired_sim_fails_with_sim_retired_and_costs_no_create() {
    let retired = iccid_batch(15, 1);
    let world = World::start(EmulatorConfig {
        retired_iccids: retired.clone(),
        ..config(&[])
    });
    world.write(
        "m.csv",
        &manifest("iccid,email", &[format!("{},a@x.example", retired[0])]),
    );

    let out = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    failed(&lines, 2, "sim_retired");
    let state = world.state();
    let sim = state["sims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sim| sim["iccid"] == retired[0].as_str())
        .unwrap_or_else(|| panic!("the retired SIM is stocked: {}", state["sims"]));
    assert_eq!(sim["status"], "retired");
    assert_eq!(line(&lines, 2).sim_id, sim["id"].as_str().unwrap());
    let requests = &state["counters"]["requests"];
    assert!(
        requests["POST /projects/{project}/subscriptions"].is_null(),
        "no create was attempted: {requests}"
    );
    assert_eq!(
        state["counters"]["usersCreated"],
        json!(0),
        "nor a user made"
    );
}

#[test]
fn a_sim_already_subscribed_is_already_onboarded_or_in_use() {
    let sims = iccid_batch(4, 3);
    let world = World::with_stock(&sims);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let ours = world.user("ours@x.example");
    let theirs = world.user("theirs@x.example");
    let same = world.subscribe(&plan, &world.sim_id(&sims[0]), &ours);
    let other = world.subscribe(&plan, &world.sim_id(&sims[1]), &theirs);
    world.write("m.csv", &manifest("iccid", &sims));

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", &plan, "--user", &ours]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let first = line(&lines, 2);
    assert_eq!(first.outcome, "already_onboarded", "{}", first.message);
    assert_eq!(first.subscription_id, same);
    let msg = failed(&lines, 3, "sim_in_use");
    assert!(
        msg.contains(&other),
        "the message names the subscription: {msg}"
    );
    assert_eq!(line(&lines, 4).outcome, "onboarded");
    assert!(world.subscriptions_per_sim().values().all(|&n| n == 1));
}

#[test]
fn explicit_plans_that_do_not_fit_say_why() {
    let sims = iccid_batch(5, 7);
    let world = World::with_stock(&sims);
    let p = |what: &str, pick: &dyn Fn(&serde_json::Value) -> bool| world.plan_where(what, pick);
    let archived = p("archived plan", &|pl| pl["status"] == "archived");
    let esim_only = p("eSIM-only p4 plan", &|pl| {
        pl["provider"] == "p4" && pl["status"] == "available" && !has(pl, "simTypes", "pSIM")
    });
    let p9 = p("p9 pSIM plan", &|pl| {
        pl["provider"] == "p9" && pl["status"] == "available"
    });
    let address = p("p4 plan needing an address", &|pl| {
        pl["provider"] == "p4"
            && pl["status"] == "available"
            && requirement(pl, "address") != "none"
    });
    let user = world.user("u@x.example");
    let rows = [
        format!("{},{archived},,,", sims[0]),
        format!("{},{esim_only},,,", sims[1]),
        format!("{},{p9},,,", sims[2]),
        format!("{},{address},,,", sims[3]),
        format!("{},{address},1 Main St,Berlin,DE", sims[4]),
        format!("{},pln_nope,,,", sims[5]),
        // No plan: with an address both p4 pSIM plans fit.
        format!("{},,1 Main St,Berlin,DE", sims[6]),
    ];
    world.write(
        "m.csv",
        &manifest(
            "iccid,plan,address_line1,address_city,address_country",
            &rows,
        ),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert!(failed(&lines, 2, "plan_incompatible").contains("archived"));
    assert!(failed(&lines, 3, "plan_incompatible").contains("eSIM"));
    assert!(failed(&lines, 4, "plan_incompatible").contains("provider p9"));
    assert!(failed(&lines, 5, "plan_requires_address").contains("address_line1"));
    let with_address = line(&lines, 6);
    assert_eq!(
        with_address.outcome, "onboarded",
        "{}",
        with_address.message
    );
    assert_eq!(with_address.plan_id, address);
    assert!(failed(&lines, 7, "plan_not_found").contains("pln_nope"));
    let msg = failed(&lines, 8, "plan_ambiguous");
    let plain = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    assert!(msg.contains(&plain) && msg.contains(&address), "{msg}");
    assert_eq!(world.counter("subscriptionsCreated"), 1);
}

#[test]
fn a_provider_without_plans_has_no_compatible_plan() {
    let sims = iccid_batch(6, 1);
    let world = World::start(simboard::emulator::EmulatorConfig {
        provider: "p7".into(),
        ..config(&sims)
    });
    world.write(
        "m.csv",
        &manifest("iccid,email", &[format!("{},a@x.example", sims[0])]),
    );

    let out = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert!(failed(&lines, 2, "no_compatible_plan").contains("p7"));
    assert_eq!(
        world.counter("usersCreated"),
        0,
        "no user is made for a row that fails"
    );
}

#[test]
fn users_come_from_the_user_column_then_email_then_the_flag() {
    let sims = iccid_batch(7, 5);
    let world = World::with_stock(&sims);
    let by_id = world.user("by-id@x.example");
    let existing = world.user("Known@X.example");
    let fallback = world.user("fallback@x.example");
    let rows = [
        format!("{},{by_id},someone@x.example", sims[0]),
        format!("{},,known@x.EXAMPLE", sims[1]),
        format!("{},,", sims[2]),
        format!("{},usr_nope,", sims[3]),
    ];
    world.write("m.csv", &manifest("iccid,user,email", &rows));

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &fallback]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(line(&lines, 2).user_id, by_id, "the user column wins");
    assert_eq!(
        line(&lines, 3).user_id,
        existing,
        "emails compare case-insensitively"
    );
    assert_eq!(line(&lines, 4).user_id, fallback, "--user comes last");
    assert!(failed(&lines, 5, "user_not_found").contains("usr_nope"));
    assert_eq!(
        world.counter("usersCreated"),
        3,
        "only the test's own users"
    );

    // Without --user, a row with neither column has no user.
    world.write("n.csv", &manifest("iccid", &[sims[4].clone()]));
    let out = world.run(&["n.csv", "-o", "n.out.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = results(&world.path("n.out.csv"));
    assert!(failed(&lines, 2, "user_missing").contains("--user"));
}

#[test]
fn a_dry_run_creates_nothing_and_says_what_it_would_do() {
    let sims = iccid_batch(8, 4);
    let world = World::with_stock(&sims);
    let known = world.user("known@x.example");
    let rows = [
        format!("{},known@x.example", sims[0]),
        format!("{},new@x.example", sims[1]),
        format!("{},new@x.example", sims[2]),
        format!("{},", sims[3]),
    ];
    world.write("m.csv", &manifest("iccid,email", &rows));
    let before = world.state();

    let out = world.run(&["m.csv", "-o", "r.csv", "--dry-run"]);

    assert_eq!(
        out.status.code(),
        Some(1),
        "line 5 has no user: {}",
        stderr(&out)
    );
    let lines = results(&world.path("r.csv"));
    let first = line(&lines, 2);
    assert_eq!(first.outcome, "would_onboard");
    assert_eq!(first.user_id, known);
    assert!(!first.message.contains("create"), "{}", first.message);
    for n in [3, 4] {
        let l = line(&lines, n);
        assert_eq!(l.outcome, "would_onboard");
        assert!(l.message.contains("would create a user"), "{}", l.message);
    }
    failed(&lines, 5, "user_missing");
    let after = world.state();
    assert_eq!(after["users"], before["users"]);
    assert_eq!(after["subscriptions"], before["subscriptions"]);
    assert_eq!(after["counters"]["subscriptionsCreated"], json!(0));
}

#[test]
fn one_email_shared_by_concurrent_rows_makes_one_user() {
    let sims = iccid_batch(9, 24);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{s},{},Fleet Ops",
                ["fleet@x.example", "FLEET@x.example", " Fleet@X.Example "][i % 3]
            )
        })
        .collect();
    world.write("m.csv", &manifest("iccid,email,full_name", &rows));

    let out = world.run(&["m.csv", "-o", "r.csv", "--concurrency", "8"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let user = &lines[0].user_id;
    assert!(lines
        .iter()
        .all(|l| l.outcome == "onboarded" && &l.user_id == user));
    let state = world.state();
    assert_eq!(state["counters"]["usersCreated"], json!(1));
    let requests = &state["counters"]["requests"];
    // One search for the email, or one page of the project's users.
    let (search, list) = if resolve_mode() == "search" {
        (json!(1), json!(null))
    } else {
        (json!(null), json!(1))
    };
    assert_eq!(
        requests["POST /projects/{project}/users/search"], search,
        "{requests}"
    );
    assert_eq!(
        requests["GET /projects/{project}/users"], list,
        "{requests}"
    );
    assert_eq!(
        requests["POST /projects/{project}/users"],
        json!(1),
        "{requests}"
    );
}

#[test]
fn exhausted_retries_give_api_error_with_the_status() {
    let sims = iccid_batch(10, 6);
    // With one worker the faults fall on the same requests every time; find
    // a seed whose faults spare the preflight but hit some row (against an
    // emulator serving one plan per page, the preflight is several requests,
    // so more seeds may be needed).
    for seed in 1..400 {
        let world = World::start(simboard::emulator::EmulatorConfig {
            fail_rate: 0.3,
            seed,
            ..config(&sims)
        });
        world.write(
            "m.csv",
            &manifest(
                "iccid,email",
                &sims
                    .iter()
                    .map(|s| format!("{s},a@x.example"))
                    .collect::<Vec<_>>(),
            ),
        );
        let out = world.run(&[
            "m.csv",
            "-o",
            "r.csv",
            "--max-retries",
            "0",
            "--concurrency",
            "1",
        ]);
        if out.status.code() == Some(2) {
            continue; // the preflight drew a fault
        }
        let lines = results(&world.path("r.csv"));
        let Some(l) = lines.iter().find(|l| l.reason == "api_error") else {
            continue;
        };
        assert_eq!(out.status.code(), Some(1));
        assert!(
            l.message.contains("HTTP 50"),
            "status in the message: {}",
            l.message
        );
        return;
    }
    panic!("no seed gave an api_error row");
}

#[test]
fn a_bad_token_stops_after_one_request() {
    let sims = iccid_batch(11, 3);
    let world = World::with_stock(&sims);
    world.write("m.csv", &manifest("iccid", &sims));

    let out = world
        .command(&["m.csv", "-o", "r.csv"])
        .env("GIGS_TOKEN", "sk_wrong")
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refused the token"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world.counter("requestsTotal"), 1);
    assert!(!world.path("r.csv").exists(), "no row was attempted");
}

#[test]
fn a_token_revoked_in_mid_run_stops_the_whole_run() {
    let sims = iccid_batch(16, 40);
    // The preflight and the first rows pass; then every request is 401.
    let revoke_after = 12;
    let concurrency = 4;
    let world = World::start(EmulatorConfig {
        revoke_token_after: Some(revoke_after),
        ..config(&sims)
    });
    let rows: Vec<String> = sims.iter().map(|s| format!("{s},a@x.example")).collect();
    world.write("m.csv", &manifest("iccid,email", &rows));

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--concurrency",
        &concurrency.to_string(),
    ]);

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refused the token in mid-run") && err.contains("--resume"),
        "{err}"
    );
    let state = world.state();
    let total = state["counters"]["requestsTotal"].as_u64().unwrap();
    assert!(
        total <= revoke_after + concurrency,
        "only the requests in flight went out after the revocation: {total}"
    );
    // The rows that finished before the revocation are in the file, and no
    // row is reported failed for the token: the others are left for --resume.
    let lines = results(&world.path("r.csv"));
    assert!(lines.len() < 10, "rows stopped at once: {}", lines.len());
    assert!(
        lines.iter().all(|l| l.outcome == "onboarded"),
        "no row failed for the token: {lines:#?}"
    );
    assert_eq!(
        state["counters"]["subscriptionsCreated"],
        json!(lines.len()),
        "every subscription made is reported"
    );
}

#[test]
fn the_preflight_refuses_an_unusable_plan_before_any_row() {
    let sims = iccid_batch(12, 2);
    let world = World::with_stock(&sims);
    world.write("m.csv", &manifest("iccid", &sims));
    let archived = world.plan_where("archived plan", |p| p["status"] == "archived");
    let esim_only = world.plan_where("eSIM-only plan", |p| {
        p["status"] == "available" && !has(p, "simTypes", "pSIM")
    });
    for (plan, says) in [
        ("pln_nope", "no such plan"),
        (archived.as_str(), "archived"),
        (esim_only.as_str(), "pSIM"),
    ] {
        let out = world.run(&["m.csv", "-o", "r.csv", "--plan", plan, "--user", "usr_x"]);
        assert_eq!(out.status.code(), Some(2), "{plan}");
        assert!(stderr(&out).contains(says), "{plan}: {}", stderr(&out));
    }
    let requests = &world.state()["counters"]["requests"];
    assert!(
        requests["POST /projects/{project}/sims/search"].is_null(),
        "{requests}"
    );
}

#[test]
fn no_token_no_project_or_plain_http_elsewhere_are_fatal() {
    let sims = iccid_batch(13, 1);
    let world = World::with_stock(&sims);
    world.write("m.csv", &manifest("iccid", &sims));

    let out = world
        .command(&["m.csv"])
        .env_remove("GIGS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GIGS_TOKEN"), "{}", stderr(&out));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args([
            "run",
            "m.csv",
            "--project",
            "p",
            "--api-url",
            "http://api.example.com",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--allow-insecure-http"),
        "{}",
        stderr(&out)
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args(["run", "m.csv", "--project", "nope", "--api-url", &world.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert_eq!(world.counter("subscriptionsCreated"), 0);
}

#[test]
fn verbose_logs_requests_but_never_the_token() {
    let sims = iccid_batch(14, 2);
    let world = World::with_stock(&sims);
    world.write(
        "m.csv",
        &manifest(
            "iccid,email",
            &sims
                .iter()
                .map(|s| format!("{s},v@x.example"))
                .collect::<Vec<_>>(),
        ),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "-v", "--idempotency-keys"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("POST /projects/") && log.contains("/subscriptions 2"),
        "{log}"
    );
    assert!(log.contains(" ms"), "latency is logged: {log}");
    assert!(!log.contains(&world.token), "the token leaked: {log}");
    assert!(!log.to_lowercase().contains("idempotency"), "{log}");
    let file = std::fs::read_to_string(world.path("r.csv")).unwrap();
    assert!(!file.contains(&world.token));
}

#[test]
fn the_sandbox_onboards_the_clean_sample() {
    let w = Workdir::new();
    let out = w.simboard(&["run", &sample("clean.csv"), "--sandbox", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&w.path("r.csv"));
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|l| l.outcome == "onboarded"), "{lines:#?}");
}

#[test]
fn a_test_placeholder_iccid_resolves_to_its_placeholder_sim() {
    // Searching a placeholder's ICCID answers the placeholder itself, whose
    // ICCID is the one searched; a create with it makes a new test SIM.
    let world = World::with_stock(&[]);
    let user = world.user("t@x.example");
    world.write(
        "m.csv",
        &manifest("iccid", &["89424242424242424242".to_owned()]),
    );

    let plan = world.plan_where("test plan", |p| {
        p["provider"] == "test" && p["status"] == "available" && has(p, "simTypes", "pSIM")
    });
    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--user",
        &user,
        "--plan",
        &plan,
        "--no-check-digit",
    ]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let l = line(&lines, 2);
    assert_eq!(l.outcome, "onboarded", "{}", l.message);
    // The result names the test SIM the subscription serves, which Gigs made
    // from the placeholder, and says so.
    let state = world.state();
    let served = state["subscriptions"][0]["sim"].as_str().unwrap();
    assert_ne!(served, "sim_test_psim");
    assert_eq!(l.sim_id, served);
    assert!(
        l.message.contains("placeholder sim_test_psim"),
        "{}",
        l.message
    );
}
