//! Conformance of the emulator to the parts of the reference that issue 9
//! re-checked: user addresses as a resource, flat requirement keys and their
//! enforcement, `activationTrigger`, the `deleted` SIM status, control
//! characters in what a user types; and the knobs that let tests check a
//! client's distrust (filters ignored, pages capped, `invalid` as 400).

mod common;

use common::{assert_error, iccids, id, ids, Api};
use serde_json::{json, Value};
use simboard::emulator::EmulatorConfig;

fn berlin() -> Value {
    json!({"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"})
}

/// An emulator with `n` pSIMs of `provider`, one user and the SIMs' ids.
fn project(provider: &str, n: usize) -> (Api, Vec<String>, String) {
    let stocked = iccids(n);
    let api = Api::start(EmulatorConfig {
        inventory_iccids: stocked.clone(),
        provider: provider.to_owned(),
        ..EmulatorConfig::default()
    });
    let sims = stocked.iter().map(|i| api.sim_id(i)).collect();
    let user = api.user("ada@example.com");
    (api, sims, user)
}

// --- User addresses ------------------------------------------------------

#[test]
fn an_address_is_created_listed_and_read_under_its_user() {
    let (api, _, user) = project("p4", 0);
    let (status, address) = api.post(&format!("/users/{user}/addresses"), berlin());
    assert_eq!(status, 201, "{address}");
    let adr = id(&address);
    assert!(adr.starts_with("adr_"), "{adr}");
    assert_eq!(address["object"], "userAddress");
    assert_eq!(address["user"], user.as_str());
    assert_eq!(address["city"], "Berlin");
    assert_eq!(address["country"], "DE");
    assert_eq!(address["line2"], Value::Null);

    let (status, list) = api.get(&format!("/users/{user}/addresses"));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    assert_eq!(ids(&list), [adr.as_str()]);
    let (status, read) = api.get(&format!("/users/{user}/addresses/{adr}"));
    assert_eq!((status, read), (200, address));
}

#[test]
fn addresses_list_newest_first_and_page() {
    let (api, _, user) = project("p4", 0);
    let made: Vec<String> = ["1 A St", "2 B St", "3 C St"]
        .iter()
        .map(|line1| {
            let body = json!({"line1": line1, "city": "Berlin", "country": "DE"});
            id(&api.post(&format!("/users/{user}/addresses"), body).1)
        })
        .collect();
    let (_, first) = api.get(&format!("/users/{user}/addresses?limit=2"));
    assert_eq!(ids(&first), [made[2].clone(), made[1].clone()]);
    assert_eq!(first["moreItemsAfter"], made[1].as_str());
    let (_, rest) = api.get(&format!(
        "/users/{user}/addresses?limit=2&after={}",
        made[1]
    ));
    assert_eq!(ids(&rest), [made[0].clone()]);
    assert_eq!(rest["moreItemsAfter"], Value::Null);
}

#[test]
fn a_user_sees_only_their_own_addresses() {
    let (api, _, ada) = project("p4", 0);
    let bob = api.user("bob@example.com");
    let adr = id(&api.post(&format!("/users/{ada}/addresses"), berlin()).1);
    let (_, bobs) = api.get(&format!("/users/{bob}/addresses"));
    assert!(ids(&bobs).is_empty(), "{bobs}");
    let answer = api.get(&format!("/users/{bob}/addresses/{adr}"));
    assert_error(&answer, 404, "notFound", None);
}

#[test]
fn addresses_of_an_unknown_user_are_404() {
    let (api, _, _) = project("p4", 0);
    assert_error(&api.get("/users/usr_nope/addresses"), 404, "notFound", None);
    let answer = api.post("/users/usr_nope/addresses", berlin());
    assert_error(&answer, 404, "notFound", None);
}

#[test]
fn an_address_without_line1_or_city_or_with_a_bad_country_is_user_address_invalid() {
    let (api, _, user) = project("p4", 0);
    let path = format!("/users/{user}/addresses");
    for body in [
        json!({"city": "Berlin", "country": "DE"}),
        json!({"line1": "1 Main St", "country": "DE"}),
        json!({"line1": "1 Main St", "city": "Berlin", "country": "Germany"}),
        json!({"line1": "1 Main St", "city": "Berlin", "country": "D1"}),
        json!({"line1": "1 Main St", "city": "Berlin"}),
        json!({"line1": "1 Main\u{7} St", "city": "Berlin", "country": "DE"}),
    ] {
        let answer = api.post(&path, body.clone());
        assert_error(&answer, 422, "invalid", Some("userAddressInvalid"));
    }
    assert_eq!(api.counter("addressesCreated"), 0);
}

#[test]
fn the_same_address_again_for_the_same_user_is_user_address_already_exists() {
    let (api, _, ada) = project("p4", 0);
    let path = format!("/users/{ada}/addresses");
    assert_eq!(api.post(&path, berlin()).0, 201);
    // Case and surrounding spaces do not make another address.
    let again =
        json!({"line1": " 1 MAIN ST", "city": "berlin ", "postalCode": "10115", "country": "de"});
    let answer = api.post(&path, again);
    assert_error(&answer, 422, "invalid", Some("userAddressAlreadyExists"));
    // Another user may have the same address.
    let bob = api.user("bob@example.com");
    assert_eq!(
        api.post(&format!("/users/{bob}/addresses"), berlin()).0,
        201
    );
    assert_eq!(api.counter("addressesCreated"), 2);
}

#[test]
fn concurrent_creates_of_one_address_make_exactly_one() {
    let (api, _, user) = project("p4", 0);
    let path = format!("/users/{user}/addresses");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| api.post(&path, berlin())))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker").0)
            .collect()
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
    assert_eq!(ids(&api.get(&path).1).len(), 1);
}

#[test]
fn a_subscription_takes_the_id_of_an_address_the_user_owns() {
    let (api, sims, ada) = project("p4", 1);
    let adr = id(&api.post(&format!("/users/{ada}/addresses"), berlin()).1);
    let (status, sub) = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_address", "user": ada, "sim": sims[0], "userAddress": adr}),
    );
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["userAddress"], adr.as_str());
}

#[test]
fn another_users_address_is_refused_for_a_subscription() {
    let (api, sims, ada) = project("p4", 1);
    let bob = api.user("bob@example.com");
    let bobs = id(&api.post(&format!("/users/{bob}/addresses"), berlin()).1);
    let answer = api.post(
        "/subscriptions",
        json!({"plan": "pln_p4_address", "user": ada, "sim": sims[0], "userAddress": bobs}),
    );
    assert_error(&answer, 422, "invalid", Some("userAddressInvalid"));
    assert_eq!(api.counter("subscriptionsCreated"), 0);
}

// --- Requirements ---------------------------------------------------------

#[test]
fn plans_serve_flat_requirement_keys_and_an_activation_trigger() {
    let (api, _, _) = project("p4", 0);
    let (_, plan) = api.get("/plans/pln_p5_birthday");
    let requirements = &plan["requirements"];
    assert_eq!(requirements["user.birthday"], "present");
    assert_eq!(requirements["user.fullName"], "none");
    assert_eq!(requirements["address"], "none");
    assert_eq!(requirements["device"], "none");
    assert!(requirements.get("user").is_none(), "{requirements}");
    assert_eq!(plan["activationTrigger"], "creation");
    let (_, usage) = api.get("/plans/pln_p5_usage_started");
    assert_eq!(usage["activationTrigger"], "usageStarted");
}

#[test]
fn a_plans_file_with_nested_requirements_is_served_flat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.json");
    let plans = json!([{
        "id": "pln_nested", "provider": "p4", "simTypes": ["pSIM"],
        "requirements": {"address": "none", "user": {"fullName": "present"}},
    }]);
    std::fs::write(&path, plans.to_string()).unwrap();
    let api = Api::start(EmulatorConfig {
        plans: Some(path),
        ..EmulatorConfig::default()
    });
    let (_, plan) = api.get("/plans/pln_nested");
    assert_eq!(plan["requirements"]["user.fullName"], "present");
    assert!(plan["requirements"].get("user").is_none());
    // And the requirement is enforced.
    let user = api.user("ada@example.com");
    let answer = api.subscribe("pln_nested", &user, "sim_test_psim");
    assert_error(&answer, 422, "invalid", Some("userFullNameRequired"));
}

#[test]
fn a_plan_requiring_a_full_name_refuses_a_user_without_one() {
    let (api, sims, nameless) = project("p5", 2);
    let answer = api.subscribe("pln_p5_full_name", &nameless, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("userFullNameRequired"));
    let (_, named) = api.post(
        "/users",
        json!({"email": "grace@example.com", "fullName": "Grace Hopper"}),
    );
    let (status, sub) = api.subscribe("pln_p5_full_name", &id(&named), &sims[1]);
    assert_eq!(status, 201, "{sub}");
}

#[test]
fn a_plan_requiring_a_birthday_refuses_a_user_without_one() {
    let (api, sims, undated) = project("p5", 2);
    let answer = api.subscribe("pln_p5_birthday", &undated, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("userBirthdayRequired"));
    let (_, dated) = api.post(
        "/users",
        json!({"email": "grace@example.com", "birthday": "1906-12-09"}),
    );
    let (status, sub) = api.subscribe("pln_p5_birthday", &id(&dated), &sims[1]);
    assert_eq!(status, 201, "{sub}");
}

#[test]
fn a_plan_requiring_a_device_refuses_every_create() {
    let (api, sims, user) = project("p5", 1);
    let answer = api.subscribe("pln_p5_device", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("deviceRequired"));
    assert_eq!(api.counter("subscriptionsCreated"), 0);
}

#[test]
fn a_usage_started_plan_keeps_its_new_subscription_pending() {
    let (api, sims, user) = project("p5", 1);
    let (status, sub) = api.subscribe("pln_p5_usage_started", &user, &sims[0]);
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["status"], "pending");
    assert_eq!(sub["activatedAt"], Value::Null);
    let (_, again) = api.get(&format!("/subscriptions/{}", id(&sub)));
    assert_eq!(again["status"], "pending");
    // The SIM is taken all the same.
    let (_, listed) = api.get(&format!("/subscriptions?sim={}", sims[0]));
    assert_eq!(ids(&listed), [id(&sub)]);
    let answer = api.subscribe("pln_p5_full_name", &user, &sims[0]);
    assert_error(&answer, 422, "invalid", Some("simAlreadyUsed"));
}

// --- SIM statuses -----------------------------------------------------------

#[test]
fn a_deleted_sim_shows_its_status_and_takes_no_subscription() {
    let deleted = iccids(1);
    let api = Api::start(EmulatorConfig {
        deleted_iccids: deleted.clone(),
        ..EmulatorConfig::default()
    });
    let sim = api.sim_id(&deleted[0]);
    assert_eq!(api.get(&format!("/sims/{sim}")).1["status"], "deleted");
    let (_, listed) = api.get("/sims?status=deleted");
    assert_eq!(ids(&listed), [sim.as_str()]);
    let user = api.user("ada@example.com");
    let answer = api.subscribe("pln_p4_standard", &user, &sim);
    assert_error(&answer, 422, "invalid", Some("simDeleted"));
}

// --- Control characters -------------------------------------------------------

#[test]
fn an_email_or_a_name_with_a_control_character_is_refused() {
    let (api, _, _) = project("p4", 0);
    for email in [
        "ev\u{0}e@example.com",
        "eve@exa\u{1b}mple.com",
        "eve@example.com\u{7f}",
    ] {
        let answer = api.post("/users", json!({ "email": email }));
        assert_error(&answer, 422, "invalid", Some("invalidEmail"));
    }
    let answer = api.post(
        "/users",
        json!({"email": "eve@example.com", "fullName": "Eve\u{8}\u{8}\u{8}Mallory"}),
    );
    assert_error(&answer, 422, "invalid", Some("invalidFullName"));
    assert_eq!(
        api.counter("usersCreated"),
        1,
        "only the project's own user"
    );
}

// --- Knobs for tests of a client's distrust ----------------------------------------

#[test]
fn with_ignore_filters_lists_answer_every_item_whatever_the_filter() {
    let stocked = iccids(3);
    let api = Api::start(EmulatorConfig {
        inventory_iccids: stocked.clone(),
        ignore_filters: true,
        ..EmulatorConfig::default()
    });
    let sims: Vec<String> = stocked.iter().map(|i| api.sim_id(i)).collect();
    let user = api.user("ada@example.com");
    for sim in &sims[..2] {
        assert_eq!(api.subscribe("pln_p4_standard", &user, sim).0, 201);
    }
    let (status, subs) = api.get(&format!("/subscriptions?sim={}", sims[0]));
    assert_eq!(status, 200, "{subs}");
    assert_eq!(
        ids(&subs).len(),
        2,
        "the other SIM's subscription is listed too"
    );
    let (_, retired) = api.get("/sims?status=retired");
    assert_eq!(ids(&retired).len(), 3);
    let (_, p9) = api.get("/plans?provider=p9");
    assert!(ids(&p9).len() > 1, "{p9}");
    // A filter is still checked before it is ignored.
    assert_error(&api.get("/subscriptions?sim="), 422, "invalid", None);
}

#[test]
fn with_a_page_cap_every_list_serves_at_most_that_many_items() {
    let stocked = iccids(3);
    let api = Api::start(EmulatorConfig {
        inventory_iccids: stocked,
        page_cap: Some(1),
        ..EmulatorConfig::default()
    });
    let mut seen = Vec::new();
    let mut path = "/sims?limit=200".to_owned();
    loop {
        let (_, page) = api.get(&path);
        let got = ids(&page);
        assert_eq!(got.len(), 1, "{page}");
        seen.extend(got);
        match page["moreItemsAfter"].as_str() {
            Some(after) => path = format!("/sims?limit=200&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    let (_, plans) = api.get("/plans?limit=50");
    assert_eq!(ids(&plans).len(), 1);
}

#[test]
fn with_invalid_status_400_an_invalid_request_is_answered_400() {
    let api = Api::start(EmulatorConfig {
        invalid_status: 400,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let answer = api.subscribe("pln_nope", &user, "sim_test_psim");
    assert_error(&answer, 400, "invalid", Some("planNotFound"));
    let taken = api.post("/users", json!({"email": "ada@example.com"}));
    assert_error(&taken, 400, "invalid", Some("userAlreadyExists"));
    // Other errors keep their status.
    assert_error(&api.get("/plans/pln_nope"), 404, "notFound", None);
}

#[test]
fn an_invalid_status_other_than_400_or_422_is_refused_at_start() {
    let config = EmulatorConfig {
        invalid_status: 418,
        ..EmulatorConfig::default()
    };
    assert!(simboard::emulator::Emulator::start(config).is_err());
}

// --- Indexed filters ------------------------------------------------------------

#[test]
fn the_user_filter_pages_a_users_sims_newest_first_whatever_order_they_were_taken_in() {
    let (api, sims, ada) = project("p4", 5);
    let bob = api.user("bob@example.com");
    for (user, sim) in [(&ada, 3), (&bob, 2), (&ada, 1), (&ada, 4)] {
        assert_eq!(api.subscribe("pln_p4_standard", user, &sims[sim]).0, 201);
    }
    // The inventory is listed newest first, so SIM 4 before SIM 3 before SIM 1.
    let (_, first) = api.get(&format!("/sims?user={ada}&limit=2"));
    assert_eq!(ids(&first), [sims[4].as_str(), sims[3].as_str()]);
    let after = first["moreItemsAfter"].as_str().expect("more SIMs follow");
    let (_, rest) = api.get(&format!("/sims?user={ada}&limit=2&after={after}"));
    assert_eq!(ids(&rest), [sims[1].as_str()]);
    assert_eq!(rest["moreItemsAfter"], Value::Null);
    assert_eq!(rest["moreItemsBefore"], sims[1].as_str());
    let (_, subs) = api.get(&format!("/subscriptions?user={bob}"));
    assert_eq!(subs["items"][0]["sim"]["id"], sims[2].as_str());
    assert_eq!(ids(&subs).len(), 1);
}

#[test]
fn a_dropped_address_answer_leaves_the_address_stored_for_a_list_to_find() {
    let api = Api::start(EmulatorConfig {
        address_drop_rate: 1.0,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let path = format!("/users/{user}/addresses");
    let lost = api.post_req(&path, &berlin()).send();
    assert!(lost.is_err(), "the answer is dropped: {lost:?}");
    assert_eq!(api.counter("dropped"), 1);
    assert_eq!(api.counter("addressesCreated"), 1);
    // Sending it again finds it there; listing gives its id.
    let again = api.post(&path, berlin());
    assert_error(&again, 422, "invalid", Some("userAddressAlreadyExists"));
    let (_, list) = api.get(&path);
    assert_eq!(list["items"][0]["city"], "Berlin");
    assert_eq!(ids(&list).len(), 1);
}
