//! `simboard run` held to the Gigs API as documented, not as simboard once
//! guessed it: addresses are a resource of the user (`adr_…` ids sent with a
//! subscription), requirements are flat dotted keys (`user.fullName`,
//! `user.birthday`, `device`), SIM statuses beyond `retired` are refused by
//! name, and a plan that activates on first use leaves its subscriptions
//! `pending` as a success. The real binary runs over HTTP against the
//! emulator, or against a scripted server for answers the emulator cannot
//! be made to give (a lost answer to an address create).

mod common;

use std::process::Output;
use std::sync::{Arc, Mutex};

use common::stub::{self, Stub};
use common::*;
use serde_json::{json, Value};
use simboard::emulator::EmulatorConfig;

/// The addresses the emulator holds for `user`.
fn addresses_of(world: &World, user: &str) -> Vec<Value> {
    world.state()["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["user"] == user)
        .cloned()
        .collect()
}

/// The `userAddress` of the subscription `sub`, as the emulator holds it.
fn address_of_subscription(world: &World, sub: &str) -> String {
    let state = world.state();
    let found = state["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sub)
        .unwrap_or_else(|| panic!("no subscription {sub}"));
    match &found["userAddress"] {
        Value::String(id) => id.clone(),
        other => other["id"].as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn many_concurrent_rows_of_one_user_share_one_address() {
    let sims = iccid_batch(60, 16);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, iccid)| match i % 4 {
            // The same address, written three ways, for one user.
            0 => format!("{iccid},ann@acme.example,1 Main St,Berlin,DE"),
            1 => format!("{iccid},ANN@acme.example, 1 MAIN ST ,berlin,de"),
            2 => format!("{iccid},ann@acme.example,1 main st,BERLIN, DE "),
            // Another user at another address.
            _ => format!("{iccid},bob@acme.example,9 Side Rd,Paris,FR"),
        })
        .collect();
    world.write(
        "m.csv",
        &manifest(
            "iccid,email,address_line1,address_city,address_country",
            &rows,
        ),
    );

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--plan",
        "pln_p4_address",
        "--concurrency",
        "8",
    ]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 16);
    let ann = line(&lines, 2).user_id.clone();
    let ann_addresses = addresses_of(&world, &ann);
    assert_eq!(ann_addresses.len(), 1, "{ann_addresses:#?}");
    let ann_address = ann_addresses[0]["id"].as_str().unwrap();
    assert!(ann_address.starts_with("adr_"), "{ann_address}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.outcome, "onboarded", "line {}: {}", l.line, l.message);
        let sent = address_of_subscription(&world, &l.subscription_id);
        if i % 4 == 3 {
            assert_ne!(sent, ann_address, "line {}", l.line);
        } else {
            assert_eq!(
                (l.user_id.as_str(), sent.as_str()),
                (ann.as_str(), ann_address)
            );
        }
    }
    assert_eq!(
        world.counter("addressesCreated"),
        2,
        "one per user and address"
    );
    let requests = &world.state()["counters"]["requests"];
    assert_eq!(
        requests["POST /projects/{project}/users/{user}/addresses"].as_u64(),
        Some(2),
        "no row raced another into a create the API refuses: {requests}"
    );
    assert_eq!(
        requests["GET /projects/{project}/users/{user}/addresses"].as_u64(),
        Some(2),
        "each user's addresses listed once: {requests}"
    );
    assert_eq!(world.counter("usersCreated"), 2);
}

#[test]
fn an_address_the_user_already_has_is_reused_not_created() {
    let sims = iccid_batch(61, 2);
    let world = World::with_stock(&sims);
    let user = world.user("cy@acme.example");
    let existing = world.call(
        "POST",
        &format!("/users/{user}/addresses"),
        Some(json!({"line1": "5 Quay", "city": "Dublin", "postalCode": "D01", "country": "IE"})),
    );
    let existing = existing["id"].as_str().unwrap().to_owned();
    let rows = [
        format!("{},{user},5 QUAY ,dublin,d01,ie", sims[0]),
        format!("{},{user},5 Quay,Dublin,D01,IE", sims[1]),
    ];
    world.write(
        "m.csv",
        &manifest(
            "iccid,user,address_line1,address_city,address_postal_code,address_country",
            &rows,
        ),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", "pln_p4_address"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for l in results(&world.path("r.csv")) {
        assert_eq!(l.outcome, "onboarded", "line {}: {}", l.line, l.message);
        assert_eq!(
            address_of_subscription(&world, &l.subscription_id),
            existing
        );
    }
    assert_eq!(world.counter("addressesCreated"), 1, "only the test's own");
    let lists =
        &world.state()["counters"]["requests"]["GET /projects/{project}/users/{user}/addresses"];
    assert_eq!(lists.as_u64(), Some(1), "listed once for the run");
}

#[test]
fn a_bad_birthday_or_country_fails_before_any_call() {
    let sims = iccid_batch(62, 2);
    let world = World::with_stock(&sims);
    let rows = [
        format!("{},a@x.example,31/12/1990,1 Main St,Berlin,DE", sims[0]),
        format!(
            "{},b@x.example,1990-12-31,1 Main St,Berlin,Germany",
            sims[1]
        ),
    ];
    world.write(
        "m.csv",
        &manifest(
            "iccid,email,date_of_birth,address_line1,address_city,address_country",
            &rows,
        ),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", "pln_p4_address"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let msg = failed(&lines, 2, "invalid_birthday");
    assert!(
        msg.contains("31/12/1990") && msg.contains("YYYY-MM-DD"),
        "{msg}"
    );
    let msg = failed(&lines, 3, "address_invalid");
    assert!(
        msg.contains("Germany") && msg.contains("two-letter"),
        "{msg}"
    );
    let requests = world.state()["counters"]["requests"].clone();
    let routes: Vec<&String> = requests.as_object().unwrap().keys().collect();
    assert!(
        routes.iter().all(|r| r.contains("/plans")),
        "only the preflight was sent: {requests}"
    );
}

#[test]
fn a_deleted_sim_is_unusable_and_named() {
    let sims = iccid_batch(63, 2);
    let world = World::start(EmulatorConfig {
        deleted_iccids: vec![sims[1].clone()],
        ..config(&sims[..1])
    });
    world.write("m.csv", &manifest("iccid", &sims));
    let user = world.user("d@x.example");

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(line(&lines, 2).outcome, "onboarded");
    let msg = failed(&lines, 3, "sim_unusable");
    assert!(msg.contains("deleted"), "{msg}");
    assert!(line(&lines, 3).sim_id.starts_with("sim_"));
    assert_eq!(world.counter("subscriptionsCreated"), 1);
}

/// A world of p5 pSIMs: the built-in catalogue's p5 plans each have one
/// requirement (full name, birthday, device) or start on first use.
fn p5_world(sims: &[String]) -> World {
    World::start(EmulatorConfig {
        provider: "p5".into(),
        ..config(sims)
    })
}

/// The user the emulator holds with this email.
fn user_by_email(world: &World, email: &str) -> Option<Value> {
    world.state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

#[test]
fn user_requirements_are_met_from_the_row_for_a_new_user_only() {
    let sims = iccid_batch(64, 5);
    let world = p5_world(&sims);
    let old = world.user("old@x.example");
    let rows = [
        format!("{},pln_p5_full_name,new1@x.example,Ann Lee,", sims[0]),
        format!("{},pln_p5_full_name,new2@x.example,,", sims[1]),
        format!("{},pln_p5_birthday,new3@x.example,,1990-02-28", sims[2]),
        format!("{},pln_p5_birthday,new4@x.example,Ann Lee,", sims[3]),
        // An existing user without a birthday: the row's is not used.
        format!("{},pln_p5_birthday,old@x.example,,1980-01-01", sims[4]),
    ];
    world.write(
        "m.csv",
        &manifest("iccid,plan,email,full_name,birthday", &rows),
    );

    let out = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(
        line(&lines, 2).outcome,
        "onboarded",
        "{}",
        line(&lines, 2).message
    );
    assert_eq!(
        user_by_email(&world, "new1@x.example").unwrap()["fullName"],
        "Ann Lee"
    );
    assert!(failed(&lines, 3, "plan_requires_full_name").contains("full_name"));
    assert!(
        user_by_email(&world, "new2@x.example").is_none(),
        "nobody created"
    );
    assert_eq!(
        line(&lines, 4).outcome,
        "onboarded",
        "{}",
        line(&lines, 4).message
    );
    assert_eq!(
        user_by_email(&world, "new3@x.example").unwrap()["birthday"],
        "1990-02-28"
    );
    assert!(failed(&lines, 5, "plan_requires_birthday").contains("birthday column"));
    let msg = failed(&lines, 6, "plan_requires_birthday");
    assert!(msg.contains(&old) && msg.contains("does not edit"), "{msg}");
    assert_eq!(world.counter("subscriptionsCreated"), 2);
    assert_eq!(world.counter("usersCreated"), 3, "old, new1, new3");
}

#[test]
fn a_plan_that_requires_a_device_is_refused_without_sending_anything() {
    let sims = iccid_batch(65, 1);
    let world = p5_world(&sims);
    world.write(
        "m.csv",
        &manifest("iccid,email", &[format!("{},e@x.example", sims[0])]),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", "pln_p5_device"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = failed(&results(&world.path("r.csv")), 2, "plan_requires_device");
    assert!(msg.contains("pln_p5_device"), "{msg}");
    assert_eq!(world.counter("usersCreated"), 0);
    assert_eq!(world.counter("subscriptionsCreated"), 0);
}

#[test]
fn automatic_pairing_skips_plans_the_row_cannot_satisfy() {
    let sims = iccid_batch(66, 2);
    let world = p5_world(&sims);
    let rows = [
        // Nothing to give: only the plan without requirements fits.
        format!("{},f@x.example,,", sims[0]),
        // Name and birthday: three plans fit, never the device one.
        format!("{},g@x.example,Gil Ray,1975-06-30", sims[1]),
    ];
    world.write("m.csv", &manifest("iccid,email,full_name,birthday", &rows));

    let out = world.run(&["m.csv", "-o", "r.csv"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let first = line(&lines, 2);
    assert_eq!(
        (first.outcome.as_str(), first.plan_id.as_str()),
        ("onboarded", "pln_p5_usage_started"),
        "{}",
        first.message
    );
    let msg = failed(&lines, 3, "plan_ambiguous");
    for plan in [
        "pln_p5_full_name",
        "pln_p5_birthday",
        "pln_p5_usage_started",
    ] {
        assert!(msg.contains(plan), "{msg}");
    }
    assert!(!msg.contains("pln_p5_device"), "{msg}");
}

#[test]
fn a_pending_subscription_on_a_plan_started_by_use_is_onboarded() {
    let sims = iccid_batch(67, 1);
    let world = p5_world(&sims);
    world.write(
        "m.csv",
        &manifest("iccid,email", &[format!("{},h@x.example", sims[0])]),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", "pln_p5_usage_started"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = line(&results(&world.path("r.csv")), 2).clone();
    assert_eq!(l.outcome, "onboarded");
    assert!(
        l.message.contains("pending") && l.message.contains("first used"),
        "{}",
        l.message
    );
    let state = world.state();
    assert_eq!(state["subscriptions"][0]["status"], "pending");
}

/// A p4 pSIM plan that requires an address, as the plan list answers it.
const ADDRESS_PLANS: &str = r#"{"object":"list","items":[{"object":"plan","id":"pln_1","name":"One","provider":"p4","simTypes":["pSIM"],"status":"available","requirements":{"address":"present"}}],"moreItemsAfter":null,"moreItemsBefore":null}"#;

const USER: &str = r#"{"object":"user","id":"usr_1","email":"u@x.example","status":"active"}"#;

const ADDRESS: &str = r#"{"object":"userAddress","id":"adr_1","line1":"1 Main St","line2":null,"city":"Berlin","postalCode":null,"state":null,"country":"DE","user":"usr_1"}"#;

/// How the scripted server answers address creates.
#[derive(Clone, Copy)]
enum AddressCreate {
    /// The first `n` creates answer 500; `lands` says whether they are made.
    Fails { n: usize, lands: bool },
    /// The address exists, but the first list does not show it yet.
    AlreadyExists,
    /// The API finds the address not valid.
    Invalid,
}

/// A server whose one plan needs an address, with the log of address calls
/// (`GET`, `POST`) and subscription creates (`SUB`).
fn address_server(iccid: &str, creates: AddressCreate) -> (Stub, Arc<Mutex<Vec<&'static str>>>) {
    let found = stub::sim("sim_1", iccid, "inactive");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let made = Arc::new(Mutex::new(false));
    let stub = Stub::start(move |method, path, _| {
        let mut log = log.lock().unwrap();
        let mut made = made.lock().unwrap();
        match (method, path) {
            (_, p) if p.contains("/plans") => (200, ADDRESS_PLANS.to_owned()),
            (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
            ("GET", p) if p.contains("/users/usr_1/addresses") => {
                log.push("GET");
                let listed = *made && log.iter().filter(|c| **c == "GET").count() > 1;
                let items = if listed {
                    vec![ADDRESS.to_owned()]
                } else {
                    vec![]
                };
                (200, stub::list(&items))
            }
            ("POST", p) if p.ends_with("/users/usr_1/addresses") => {
                log.push("POST");
                let posts = log.iter().filter(|c| **c == "POST").count();
                match creates {
                    AddressCreate::Fails { n, lands } if posts <= n => {
                        *made |= lands;
                        (500, stub::error("unknown", "unknown"))
                    }
                    AddressCreate::Fails { .. } => {
                        *made = true;
                        (201, ADDRESS.to_owned())
                    }
                    AddressCreate::AlreadyExists => {
                        *made = true;
                        (422, stub::error("invalid", "userAddressAlreadyExists"))
                    }
                    AddressCreate::Invalid => (
                        422,
                        r#"{"object":"error","type":"invalid","code":"userAddressInvalid","message":"The given address is not valid"}"#.to_owned(),
                    ),
                }
            }
            (_, p) if p.contains("/users/usr_1") => (200, USER.to_owned()),
            ("GET", p) if p.contains("/subscriptions?") => (200, stub::list(&[])),
            ("POST", p) if p.ends_with("/subscriptions") => {
                log.push("SUB");
                (201, stub::subscription("sub_1", "sim_1", "active"))
            }
            _ => (404, stub::error("notFound", "")),
        }
    });
    (stub, calls)
}

/// One row for `usr_1` at 1 Main St, Berlin, run against `stub`.
fn run_address_row(stub: &Stub, iccid: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let text = manifest(
        "iccid,address_line1,address_city,address_country",
        &[format!("{iccid},1 Main St,Berlin,DE")],
    );
    std::fs::write(dir.path().join("m.csv"), text).unwrap();
    let out = stub.run(dir.path(), &["--user", "usr_1"]);
    (dir, out)
}

#[test]
fn an_address_create_whose_answer_was_lost_is_found_by_listing_not_sent_again() {
    let iccid = iccid_batch(68, 1).remove(0);
    let (stub, calls) = address_server(&iccid, AddressCreate::Fails { n: 1, lands: true });

    let (dir, out) = run_address_row(&stub, &iccid);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    assert_eq!(
        line(&lines, 2).outcome,
        "onboarded",
        "{}",
        line(&lines, 2).message
    );
    assert_eq!(*calls.lock().unwrap(), ["GET", "POST", "GET", "SUB"]);
}

#[test]
fn an_address_create_that_did_not_land_is_listed_then_sent_again() {
    let iccid = iccid_batch(69, 1).remove(0);
    let (stub, calls) = address_server(&iccid, AddressCreate::Fails { n: 2, lands: false });

    let (dir, out) = run_address_row(&stub, &iccid);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        line(&results(&dir.path().join("r.csv")), 2).outcome,
        "onboarded"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        ["GET", "POST", "GET", "POST", "GET", "POST", "SUB"]
    );
}

#[test]
fn an_address_the_api_says_exists_is_taken_from_a_fresh_list() {
    let iccid = iccid_batch(70, 1).remove(0);
    let (stub, calls) = address_server(&iccid, AddressCreate::AlreadyExists);

    let (dir, out) = run_address_row(&stub, &iccid);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        line(&results(&dir.path().join("r.csv")), 2).outcome,
        "onboarded"
    );
    assert_eq!(*calls.lock().unwrap(), ["GET", "POST", "GET", "SUB"]);
}

#[test]
fn an_address_the_api_finds_invalid_is_address_invalid_with_its_message() {
    let iccid = iccid_batch(71, 1).remove(0);
    let (stub, calls) = address_server(&iccid, AddressCreate::Invalid);

    let (dir, out) = run_address_row(&stub, &iccid);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = failed(&results(&dir.path().join("r.csv")), 2, "address_invalid");
    assert!(msg.contains("The given address is not valid"), "{msg}");
    assert_eq!(
        *calls.lock().unwrap(),
        ["GET", "POST"],
        "no subscription sent"
    );
}

#[test]
fn a_sims_subscriptions_are_asked_without_any_comma_list_of_statuses() {
    // Gigs does not confirm comma lists in `status`: a server may refuse one,
    // or read it as one unknown status and answer nothing. The lookup asks
    // the `sim` filter alone, then `status=initiated` alone; this server
    // refuses any comma list, and the active subscription is still found.
    let iccid = iccid_batch(72, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "inactive");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let stub = Stub::start(move |method, path, _| match (method, path) {
        (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
        (_, p) if p.contains("/users/usr_1") => (200, USER.to_owned()),
        ("POST", p) if p.ends_with("/subscriptions") => {
            (422, stub::error("invalid", "simAlreadyUsed"))
        }
        ("GET", p) if p.contains("/subscriptions?") => {
            let status = p
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("status="))
                .unwrap_or("")
                .to_owned();
            log.lock().unwrap().push(status.clone());
            match status.as_str() {
                s if s.contains(',') => (400, stub::error("invalid", "")),
                "" => (
                    200,
                    stub::list(&[stub::subscription("sub_1", "sim_1", "active")]),
                ),
                _ => (200, stub::list(&[])),
            }
        }
        _ => (404, stub::error("notFound", "")),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), manifest("iccid", &[iccid])).unwrap();

    let out = stub.run(dir.path(), &["--user", "usr_1"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = line(&results(&dir.path().join("r.csv")), 2).clone();
    assert_eq!(
        (l.outcome.as_str(), l.subscription_id.as_str()),
        ("already_onboarded", "sub_1"),
        "{}",
        l.message
    );
    assert_eq!(
        *calls.lock().unwrap(),
        ["", "initiated"],
        "the sim filter alone, then `initiated` alone (left out by default)"
    );
}

#[test]
fn a_sim_already_subscribed_to_the_named_plan_needs_no_address_again() {
    let sims = iccid_batch(73, 1);
    let world = World::with_stock(&sims);
    let user = world.user("i@x.example");
    let address = world.call(
        "POST",
        &format!("/users/{user}/addresses"),
        Some(json!({"line1": "2 Elm", "city": "Oslo", "country": "NO"})),
    );
    let sim = world.sim_id(&sims[0]);
    let sub = world.call(
        "POST",
        "/subscriptions",
        Some(json!({"plan": "pln_p4_address", "sim": sim, "user": user,
                    "userAddress": address["id"]})),
    );
    let sub = sub["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sub}"))
        .to_owned();
    world.write(
        "m.csv",
        &manifest("iccid,user", &[format!("{},{user}", sims[0])]),
    );

    let out = world.run(&["m.csv", "-o", "r.csv", "--plan", "pln_p4_address"]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = line(&results(&world.path("r.csv")), 2).clone();
    assert_eq!(
        (l.outcome.as_str(), l.subscription_id.as_str()),
        ("already_onboarded", sub.as_str()),
        "{}",
        l.message
    );
}

#[test]
fn a_user_search_answered_page_by_page_with_other_users_finds_the_right_one() {
    // A server that ignores the email and serves one user per page: the
    // user is on the third page, after two others.
    let iccid = iccid_batch(74, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "inactive");
    let searches = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&searches);
    let user = |id: &str, email: &str| {
        format!(r#"{{"object":"user","id":"{id}","email":"{email}","status":"active"}}"#)
    };
    let page = |item: String, next: &str| {
        format!(
            r#"{{"object":"list","items":[{item}],"moreItemsAfter":{next},"moreItemsBefore":null}}"#
        )
    };
    let stub = Stub::start(move |method, path, _| match (method, path) {
        (_, p) if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        (_, p) if p.ends_with("/sims/search") => (200, found.clone()),
        ("POST", p) if p.contains("/users/search") => {
            log.lock()
                .unwrap()
                .push(p.rsplit('/').next().unwrap_or("").to_owned());
            let answer = if p.contains("after=usr_b") {
                page(user("usr_1", "Ann@X.example"), "null")
            } else if p.contains("after=usr_a") {
                page(user("usr_b", "bob@x.example"), r#""usr_b""#)
            } else {
                page(user("usr_a", "annie@x.example"), r#""usr_a""#)
            };
            (200, answer)
        }
        ("POST", p) if p.ends_with("/users") => (500, stub::error("unknown", "unknown")),
        ("GET", p) if p.contains("/subscriptions?") => (200, stub::list(&[])),
        ("POST", p) if p.ends_with("/subscriptions") => {
            (201, stub::subscription("sub_1", "sim_1", "active"))
        }
        _ => (404, stub::error("notFound", "")),
    });
    let dir = tempfile::tempdir().unwrap();
    let text = manifest("iccid,email", &[format!("{iccid},ann@x.example")]);
    std::fs::write(dir.path().join("m.csv"), text).unwrap();

    let out = stub.run(dir.path(), &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = line(&results(&dir.path().join("r.csv")), 2).clone();
    assert_eq!(
        (l.outcome.as_str(), l.user_id.as_str()),
        ("onboarded", "usr_1"),
        "{}",
        l.message
    );
    assert_eq!(
        *searches.lock().unwrap(),
        [
            "search",
            "search?limit=200&after=usr_a",
            "search?limit=200&after=usr_b"
        ]
    );
}

#[test]
fn a_list_whose_cursor_comes_back_stops_the_run_instead_of_looping() {
    let stub = Stub::start(move |method, path, _| match (method, path) {
        ("GET", p) if p.contains("/plans") => {
            let (id, next) = if p.contains("after=pln_b") {
                ("pln_a", "pln_a")
            } else if p.contains("after=pln_a") {
                ("pln_b", "pln_b")
            } else {
                ("pln_a", "pln_a")
            };
            (
                200,
                format!(
                    r#"{{"object":"list","items":[{{"object":"plan","id":"{id}","provider":"p4","simTypes":["pSIM"],"status":"available"}}],"moreItemsAfter":"{next}","moreItemsBefore":null}}"#
                ),
            )
        }
        _ => (404, stub::error("notFound", "")),
    });
    let dir = tempfile::tempdir().unwrap();
    let iccid = iccid_batch(75, 1).remove(0);
    std::fs::write(dir.path().join("m.csv"), manifest("iccid", &[iccid])).unwrap();

    let out = stub.run(dir.path(), &["--user", "usr_1", "--max-retries", "0"]);

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pages do not end"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stub.requests(),
        3,
        "the third page repeats the first cursor"
    );
}

#[test]
fn a_dry_run_says_which_address_it_would_use_and_creates_none() {
    let sims = iccid_batch(76, 3);
    let world = World::with_stock(&sims);
    let housed = world.user("j@x.example");
    let address = world.call(
        "POST",
        &format!("/users/{housed}/addresses"),
        Some(json!({"line1": "3 Pier", "city": "Hull", "country": "GB"})),
    );
    let address = address["id"].as_str().unwrap().to_owned();
    let homeless = world.user("k@x.example");
    let rows = [
        format!("{},j@x.example,3 pier,HULL,gb", sims[0]),
        format!("{},k@x.example,3 Pier,Hull,GB", sims[1]),
        format!("{},new@x.example,3 Pier,Hull,GB", sims[2]),
    ];
    world.write(
        "m.csv",
        &manifest(
            "iccid,email,address_line1,address_city,address_country",
            &rows,
        ),
    );

    let out = world.run(&[
        "m.csv",
        "-o",
        "r.csv",
        "--plan",
        "pln_p4_address",
        "--dry-run",
    ]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    let first = line(&lines, 2);
    assert_eq!(first.outcome, "would_onboard");
    assert!(first.message.contains(&address), "{}", first.message);
    let second = line(&lines, 3);
    assert_eq!(second.user_id, homeless);
    assert!(
        second.message.contains("adding the row's address"),
        "{}",
        second.message
    );
    assert!(line(&lines, 4).message.contains("adding the row's address"));
    assert_eq!(world.counter("addressesCreated"), 1, "only the test's own");
    assert_eq!(world.counter("usersCreated"), 2, "only the test's own");
}
