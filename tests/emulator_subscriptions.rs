//! Conformance of the emulator's subscriptions: the create checks in their
//! documented order, lists and filters, test SIM placeholders and their
//! delays, and `Idempotency-Key` replays.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, iccids, id, ids, read, Api};
use serde_json::{json, Value};
use simboard::emulator::EmulatorConfig;

/// An emulator with `n` p4 pSIMs, one user, and the ids of both.
fn project_with(n: usize) -> (Api, Vec<String>, String) {
    let stocked = iccids(n);
    let api = Api::with_sims(&stocked);
    let sims = stocked.iter().map(|i| api.sim_id(i)).collect();
    let user = api.user("ada@example.com");
    (api, sims, user)
}

#[test]
fn subscribing_an_inventory_psim_makes_both_active_at_once() {
    let (api, sims, user) = project_with(1);
    let (status, sub) = api.subscribe("pln_p4_standard", &user, &sims[0]);
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["object"], "subscription");
    assert!(id(&sub).starts_with("sub_"));
    assert_eq!(sub["status"], "active");
    // plan, sim and user come embedded.
    assert_eq!(sub["plan"]["id"], "pln_p4_standard");
    assert_eq!(sub["user"]["id"], user.as_str());
    assert_eq!(sub["sim"]["id"], sims[0].as_str());
    assert_eq!(sub["sim"]["status"], "active");
    assert_eq!(api.get(&format!("/sims/{}", sims[0])).1["status"], "active");

    let state = api.state();
    assert_eq!(state["subscriptions"][0]["sim"], sims[0].as_str());
    assert_eq!(state["subscriptions"][0]["plan"], "pln_p4_standard");
    assert_eq!(state["subscriptions"][0]["user"], user.as_str());
    assert_eq!(state["counters"]["subscriptionsCreated"], 1);
}

#[test]
fn create_refuses_an_unknown_plan_first() {
    let (api, sims, _) = project_with(1);
    // The user and the SIM are wrong too; the plan is checked first.
    let answer = api.subscribe("pln_nope", "usr_nope", "sim_nope");
    assert_error(&answer, 422, "invalid", Some("planNotFound"));
    let _ = sims;
}

#[test]
fn create_refuses_a_plan_that_is_not_available() {
    let (api, sims, user) = project_with(1);
    let answer = api.subscribe("pln_p4_archived", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("planNotAvailable"));
}

#[test]
fn create_refuses_an_unknown_user_before_looking_at_the_sim() {
    let (api, _, _) = project_with(1);
    let answer = api.subscribe("pln_p4_standard", "usr_nope", "sim_nope");
    assert_error(&answer, 422, "invalid", Some("userNotFound"));
}

#[test]
fn create_refuses_an_unknown_sim() {
    let (api, _, user) = project_with(1);
    let answer = api.subscribe("pln_p4_standard", &user, "sim_nope");
    assert_error(&answer, 422, "invalid", Some("simNotFound"));
}

#[test]
fn create_refuses_a_sim_type_the_plan_does_not_list() {
    let (api, sims, user) = project_with(1);
    let answer = api.subscribe("pln_p4_esim_only", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simTypeNotSupported"));
}

#[test]
fn create_refuses_a_sim_of_another_provider() {
    let (api, sims, user) = project_with(1);
    let answer = api.subscribe("pln_p9_standard", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simProviderMismatch"));
    let answer = api.subscribe("pln_test_standard", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simProviderMismatch"));
}

#[test]
fn the_type_check_comes_before_the_provider_check() {
    let stocked = iccids(1);
    let api = Api::start(EmulatorConfig {
        inventory_iccids: stocked.clone(),
        provider: "p9".to_owned(),
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let sim = api.sim_id(&stocked[0]);
    // A p9 pSIM against a p4 eSIM plan is wrong twice; the type is reported.
    let answer = api.subscribe("pln_p4_esim_only", &user, &sim);
    assert_error(&answer, 422, "invalid", Some("simTypeNotSupported"));
}

#[test]
fn a_test_sim_pairs_with_a_plan_of_any_provider() {
    let (api, _, user) = project_with(0);
    for plan in ["pln_p4_standard", "pln_p9_standard", "pln_test_standard"] {
        let (status, sub) = api.subscribe(plan, &user, "sim_test_psim");
        assert_eq!(status, 201, "{plan}: {sub}");
    }
}

#[test]
fn create_refuses_a_retired_sim() {
    let retired = iccids(1);
    let api = Api::start(EmulatorConfig {
        retired_iccids: retired.clone(),
        ..EmulatorConfig::default()
    });
    let sim = api.sim_id(&retired[0]);
    assert_eq!(api.get(&format!("/sims/{sim}")).1["status"], "retired");
    let user = api.user("ada@example.com");
    let answer = api.subscribe("pln_p4_standard", &user, &sim);
    assert_error(&answer, 422, "invalid", Some("simRetired"));
}

#[test]
fn a_sim_with_a_live_subscription_is_sim_already_used() {
    let (api, sims, user) = project_with(1);
    assert_eq!(api.subscribe("pln_p4_standard", &user, &sims[0]).0, 201);
    let other = api.user("bob@example.com");
    let answer = api.subscribe("pln_p4_standard", &other, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simAlreadyUsed"));
    assert_eq!(
        answer.1["message"],
        "SIM already in use with an existing subscription"
    );
    assert_eq!(api.counter("subscriptionsCreated"), 1);
}

#[test]
fn concurrent_creates_on_one_sim_make_exactly_one_subscription() {
    let (api, sims, user) = project_with(1);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| api.subscribe("pln_p4_standard", &user, &sims[0]).0))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 422).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(api.state()["subscriptions"].as_array().unwrap().len(), 1);
}

#[test]
fn a_plan_requiring_an_address_needs_a_user_address() {
    let (api, sims, user) = project_with(2);
    let answer = api.subscribe("pln_p4_address", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("userAddressRequired"));
    let address =
        json!({"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"});
    // An inline address object is not documented: it is refused.
    let inline = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_address", "user": user, "sim": sims[1], "userAddress": address}),
    );
    assert_error(&inline, 422, "invalid", None);
    let (status, created) = api.post(&format!("/users/{user}/addresses"), address);
    assert_eq!(status, 201, "{created}");
    let (status, sub) = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_address", "user": user, "sim": sims[1], "userAddress": id(&created)}),
    );
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["userAddress"], id(&created).as_str());
}

#[test]
fn the_address_check_comes_after_the_sim_checks() {
    let (api, sims, user) = project_with(1);
    assert_eq!(api.subscribe("pln_p4_standard", &user, &sims[0]).0, 201);
    let answer = api.subscribe("pln_p4_address", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simAlreadyUsed"));
}

#[test]
fn a_create_without_plan_or_user_is_invalid() {
    let (api, sims, user) = project_with(1);
    let no_plan = api.post("/subscriptions", json!({"user": user, "sim": sims[0]}));
    assert_error(&no_plan, 422, "invalid", None);
    let no_user = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_standard", "sim": sims[0]}),
    );
    assert_error(&no_user, 422, "invalid", None);
    let bad_address = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_standard", "user": user, "sim": sims[0], "userAddress": 42}),
    );
    assert_error(&bad_address, 422, "invalid", None);
    // A string is taken for an address id, and this one is no address.
    let not_an_id = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_standard", "user": user, "sim": sims[0], "userAddress": "Berlin"}),
    );
    assert_error(&not_an_id, 422, "invalid", Some("userAddressInvalid"));
}

#[test]
fn the_sim_may_be_left_out_only_for_an_esim_plan() {
    let (api, _, user) = project_with(0);
    let psim_only = api.post(
        "/subscriptions",
        json!({"plan": "pln_p9_standard", "user": user}),
    );
    assert_error(&psim_only, 422, "invalid", Some("simRequired"));
    let (status, sub) = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_esim_only", "user": user}),
    );
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["sim"]["type"], "eSIM");
    assert_eq!(sub["sim"]["provider"], "p4");
    assert_eq!(sub["sim"]["iccid"].as_str().unwrap().len(), 20);
}

#[test]
fn subscriptions_are_read_by_id_and_an_unknown_id_is_404() {
    let (api, sims, user) = project_with(1);
    let (_, created) = api.subscribe("pln_p4_standard", &user, &sims[0]);
    let (status, read_back) = api.get(&format!("/subscriptions/{}", id(&created)));
    assert_eq!(status, 200);
    assert_eq!(read_back, created);
    assert_error(&api.get("/subscriptions/sub_nope"), 404, "notFound", None);
}

#[test]
fn subscriptions_filter_on_sim_user_plan_and_status() {
    let (api, sims, ada) = project_with(3);
    let bob = api.user("bob@example.com");
    let a = id(&api.subscribe("pln_p4_standard", &ada, &sims[0]).1);
    let b = id(&api.subscribe("pln_p4_standard", &bob, &sims[1]).1);
    let refused = api.subscribe("pln_p4_address", &ada, &sims[2]);
    assert_error(&refused, 422, "invalid", Some("userAddressRequired"));
    let pending = id(&api
        .subscribe("pln_p4_standard", &bob, "sim_test_psim_delayed_four_hours")
        .1);

    let (_, by_sim) = api.get(&format!("/subscriptions?sim={}", sims[0]));
    assert_eq!(ids(&by_sim), std::slice::from_ref(&a));
    let (_, by_user) = api.get(&format!("/subscriptions?user={bob}"));
    assert_eq!(ids(&by_user), [pending.clone(), b.clone()]);
    let (_, by_plan) = api.get("/subscriptions?plan=pln_p4_standard");
    assert_eq!(ids(&by_plan).len(), 3);
    let (_, only_pending) = api.get("/subscriptions?status=pending");
    assert_eq!(ids(&only_pending), std::slice::from_ref(&pending));
    let (_, ended) = api.get("/subscriptions?status=ended");
    assert!(ids(&ended).is_empty());
    // No status given: pending and active ones, newest first.
    let (_, default) = api.get("/subscriptions");
    assert_eq!(ids(&default), [pending, b, a]);
}

#[test]
fn subscriptions_paginate_like_sims() {
    let (api, sims, user) = project_with(5);
    for sim in &sims {
        assert_eq!(api.subscribe("pln_p4_standard", &user, sim).0, 201);
    }
    let (_, first) = api.get("/subscriptions?limit=2");
    assert_eq!(ids(&first).len(), 2);
    let after = first["moreItemsAfter"].as_str().unwrap();
    let (_, second) = api.get(&format!("/subscriptions?limit=2&after={after}"));
    assert_eq!(second["moreItemsBefore"], second["items"][0]["id"]);
    let after = second["moreItemsAfter"].as_str().unwrap();
    let (_, last) = api.get(&format!("/subscriptions?limit=2&after={after}"));
    assert_eq!(ids(&last).len(), 1);
    assert_eq!(last["moreItemsAfter"], Value::Null);
}

// --- Test SIMs -------------------------------------------------------------

#[test]
fn each_use_of_a_placeholder_makes_a_new_test_sim() {
    let (api, _, user) = project_with(0);
    let mut made = Vec::new();
    for _ in 0..3 {
        let (status, sub) = api.subscribe("pln_p4_standard", &user, "sim_test_psim");
        assert_eq!(status, 201, "{sub}");
        assert_eq!(
            sub["status"], "active",
            "sim_test_psim activates immediately"
        );
        let sim = &sub["sim"];
        assert_eq!(sim["provider"], "test");
        assert_eq!(sim["type"], "pSIM");
        assert_ne!(sim["id"], "sim_test_psim");
        let iccid = sim["iccid"].as_str().unwrap();
        assert_eq!(iccid.len(), 20);
        assert!(iccid.starts_with("8942424242"), "{iccid}");
        assert!(iccid.bytes().all(|b| b.is_ascii_digit()));
        made.push((id(sim), iccid.to_owned()));
    }
    made.sort();
    made.dedup_by(|a, b| a.0 == b.0 || a.1 == b.1);
    assert_eq!(made.len(), 3, "ids and ICCIDs are all different");

    // The new test SIM is a SIM like any other: it can be searched and read.
    let (sim_id, iccid) = &made[0];
    assert_eq!(api.sim_id(iccid), *sim_id);
    // The placeholder itself is still what its ICCID finds.
    assert_eq!(api.sim_id("89424242424242424242"), "sim_test_psim");

    let (status, esim) = api.subscribe("pln_p4_standard", &user, "sim_test_esim");
    assert_eq!(status, 201);
    assert_eq!(esim["sim"]["type"], "eSIM");
}

#[test]
fn a_delayed_placeholder_stays_pending_for_its_delay_then_turns_active() {
    // 30–60 s scaled by 0.001: active within 60 ms.
    let api = Api::start(EmulatorConfig {
        time_scale: 0.001,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let (status, sub) = api.subscribe(
        "pln_p4_standard",
        &user,
        "sim_test_psim_delayed_up_to_one_min",
    );
    assert_eq!(status, 201);
    assert_eq!(sub["status"], "pending");
    assert_eq!(sub["sim"]["status"], "inactive");
    assert_eq!(sub["activatedAt"], Value::Null);

    let path = format!("/subscriptions/{}", id(&sub));
    let deadline = Instant::now() + Duration::from_secs(5);
    let active = loop {
        let (_, now) = api.get(&path);
        if now["status"] == "active" {
            break now;
        }
        assert!(Instant::now() < deadline, "still pending: {now}");
        std::thread::yield_now();
    };
    assert_eq!(active["sim"]["status"], "active");
    assert!(active["activatedAt"].is_string());
}

#[test]
fn the_four_hour_placeholder_is_still_pending_after_a_minute_scaled() {
    // Four hours scaled by 0.001 is 14.4 s: well after this test is done.
    let api = Api::start(EmulatorConfig {
        time_scale: 0.001,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let (_, sub) = api.subscribe("pln_p4_standard", &user, "sim_test_psim_delayed_four_hours");
    assert_eq!(sub["status"], "pending");
    // Wait out the whole scaled range of the one-minute placeholder.
    let until = Instant::now() + Duration::from_millis(100);
    while Instant::now() < until {
        std::thread::yield_now();
    }
    let (_, again) = api.get(&format!("/subscriptions/{}", id(&sub)));
    assert_eq!(again["status"], "pending");
}

// --- Idempotency ---------------------------------------------------------------

#[test]
fn an_idempotency_key_replays_the_first_successful_answer() {
    let (api, sims, user) = project_with(1);
    let body = json!({"plan": "pln_p4_standard", "user": user, "sim": sims[0]});
    let send = || {
        read(
            api.post_req("/subscriptions", &body)
                .header("Idempotency-Key", "row-1")
                .send()
                .unwrap(),
        )
    };
    let first = send();
    assert_eq!(first.0, 201, "{}", first.1);
    let second = send();
    assert_eq!(second, first, "same status, same body");
    let state = api.state();
    assert_eq!(state["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(state["counters"]["subscriptionsCreated"], 1);
    assert_eq!(state["counters"]["idempotentReplays"], 1);

    // Without the key the same request is a new attempt, and is refused.
    let again = api.post("/subscriptions", body.clone());
    assert_error(&again, 422, "invalid", Some("simAlreadyUsed"));
}

#[test]
fn a_failed_request_is_not_replayed_under_its_key() {
    let api = Api::start(EmulatorConfig::default());
    let send = || {
        read(
            api.post_req("/users", &json!({"email": "ada@example.com"}))
                .header("Idempotency-Key", "user-ada")
                .send()
                .unwrap(),
        )
    };
    api.user("ada@example.com");
    let refused = send();
    assert_error(&refused, 422, "invalid", Some("userAlreadyExists"));
    // A failed answer is not stored: the retry is judged afresh.
    assert_eq!(send().0, 422);
    assert_eq!(api.counter("idempotentReplays"), 0);
}

#[test]
fn an_idempotency_key_over_255_characters_is_invalid() {
    let api = Api::start(EmulatorConfig::default());
    let answer = read(
        api.post_req("/users", &json!({"email": "ada@example.com"}))
            .header("Idempotency-Key", "k".repeat(256))
            .send()
            .unwrap(),
    );
    assert_error(&answer, 422, "invalid", None);
    assert_eq!(api.counter("usersCreated"), 0);
}
