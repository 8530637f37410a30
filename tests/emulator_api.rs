//! Conformance of the emulator to the reference: transport, errors, the
//! validation order, lists, SIMs, plans and users. One test per rule; each
//! starts its own emulator on a free port and speaks plain HTTP to it.

mod common;

use std::io::Write;

use common::{assert_error, iccid, iccid19, iccids, id, ids, read, Api};
use serde_json::{json, Value};
use simboard::emulator::EmulatorConfig;

// --- Transport and the order of checks ---------------------------------

#[test]
fn a_request_without_a_token_is_401_even_with_a_broken_body() {
    let api = Api::start(EmulatorConfig::default());
    let response = api
        .http
        .post(api.url("/users"))
        .body("{not json")
        .send()
        .unwrap();
    let answer = read(response);
    assert_error(&answer, 401, "unauthenticated", None);
    assert_eq!(answer.1["message"], "Invalid authorization token");
}

#[test]
fn a_wrong_token_is_401() {
    let api = Api::start(EmulatorConfig::default());
    let response = api
        .http
        .get(api.url("/sims"))
        .bearer_auth("sk_not_it")
        .send()
        .unwrap();
    assert_error(&read(response), 401, "unauthenticated", None);
}

#[test]
fn a_token_chosen_with_the_config_is_the_one_required() {
    let api = Api::start(EmulatorConfig {
        token: "sk_mine".to_owned(),
        ..EmulatorConfig::default()
    });
    assert_eq!(api.emulator.token(), "sk_mine");
    assert_eq!(api.get("/plans").0, 200);
}

#[test]
fn a_token_revoked_after_n_requests_is_401_from_then_on() {
    let api = Api::start(EmulatorConfig {
        revoke_token_after: Some(3),
        ..EmulatorConfig::default()
    });
    for _ in 0..3 {
        assert_eq!(api.get("/plans").0, 200, "before the revocation");
    }

    // The same token, on any route, even one that would be a 404 or a 400.
    let after = [
        api.get("/plans"),
        api.get("/widgets"),
        api.post("/users", json!({})),
    ];

    for answer in &after {
        assert_error(answer, 401, "unauthenticated", None);
        assert_eq!(answer.1["message"], "Invalid authorization token");
    }
    assert_eq!(
        api.counter("requestsTotal"),
        6,
        "refused requests count too"
    );
}

#[test]
fn another_project_is_404_not_found_before_the_body_is_read() {
    let api = Api::start(EmulatorConfig::default());
    let response = api
        .http
        .post(format!(
            "{}/projects/someone-else/users",
            api.emulator.url()
        ))
        .bearer_auth(api.emulator.token())
        .body("{not json")
        .send()
        .unwrap();
    assert_error(&read(response), 404, "notFound", None);
}

#[test]
fn an_unknown_route_is_404_not_found() {
    let api = Api::start(EmulatorConfig::default());
    assert_error(&api.get("/widgets"), 404, "notFound", None);
    let response = api
        .http
        .delete(api.url("/sims"))
        .bearer_auth(api.emulator.token())
        .send()
        .unwrap();
    assert_error(&read(response), 404, "notFound", None);
}

#[test]
fn malformed_json_is_400_malformed() {
    let api = Api::start(EmulatorConfig::default());
    for body in ["{\"email\": ", "", "[1, 2]", "\"a string\""] {
        let response = api
            .http
            .post(api.url("/users"))
            .bearer_auth(api.emulator.token())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_error(&read(response), 400, "malformed", None);
    }
}

#[test]
fn an_empty_filter_is_422_invalid_not_ignored() {
    let api = Api::with_sims(&iccids(3));
    for query in [
        "/sims?user=",
        "/sims?provider=",
        "/plans?status=",
        "/subscriptions?sim=",
    ] {
        assert_error(&api.get(query), 422, "invalid", None);
    }
}

#[test]
fn unknown_filter_values_are_422_invalid() {
    let api = Api::with_sims(&iccids(3));
    assert_error(&api.get("/sims?status=sleeping"), 422, "invalid", None);
    assert_error(&api.get("/sims?type=nanoSIM"), 422, "invalid", None);
    assert_error(&api.get("/plans?simType=iSIM"), 422, "invalid", None);
    assert_error(&api.get("/subscriptions?status=gone"), 422, "invalid", None);
}

#[test]
fn answers_are_json_with_a_content_type() {
    let api = Api::start(EmulatorConfig::default());
    let response = api.get_req("/plans").send().unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
}

// --- Lists and pagination -------------------------------------------------

#[test]
fn a_list_has_ten_items_by_default_newest_first() {
    let stocked = iccids(25);
    let api = Api::with_sims(&stocked);
    let (status, list) = api.get("/sims");
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    let iccids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["iccid"].as_str().unwrap())
        .collect();
    // Stocked in order, so the newest is the last one stocked.
    let newest: Vec<&str> = stocked.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(iccids, newest);
    assert_eq!(list["moreItemsAfter"], list["items"][9]["id"]);
    assert_eq!(list["moreItemsBefore"], Value::Null);
}

#[test]
fn after_and_before_walk_the_list_both_ways() {
    let api = Api::with_sims(&iccids(25));
    let (_, all) = api.get("/sims?limit=200");
    let all = ids(&all);
    assert_eq!(all.len(), 25);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let path = match &cursor {
            None => "/sims?limit=10".to_owned(),
            Some(after) => format!("/sims?limit=10&after={after}"),
        };
        let (status, page) = api.get(&path);
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        pages.push(page.clone());
        match page["moreItemsAfter"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, all, "pages cover the list once, in order");
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[1]["moreItemsBefore"], pages[1]["items"][0]["id"]);

    // Back from the last page: `before` its first item gives the middle page.
    let first_of_last = pages[2]["items"][0]["id"].as_str().unwrap();
    let (_, back) = api.get(&format!("/sims?limit=10&before={first_of_last}"));
    assert_eq!(ids(&back), ids(&pages[1]));
}

#[test]
fn a_limit_outside_1_to_200_is_422_invalid() {
    let api = Api::with_sims(&iccids(3));
    for limit in ["0", "201", "-1", "ten", "99999999999999999999999999"] {
        assert_error(
            &api.get(&format!("/sims?limit={limit}")),
            422,
            "invalid",
            None,
        );
    }
    assert_eq!(api.get("/sims?limit=200").0, 200);
}

#[test]
fn after_and_before_together_or_unknown_are_422_invalid() {
    let api = Api::with_sims(&iccids(3));
    let (_, list) = api.get("/sims");
    let some = list["items"][1]["id"].as_str().unwrap();
    let both = format!("/sims?after={some}&before={some}");
    assert_error(&api.get(&both), 422, "invalid", None);
    assert_error(&api.get("/sims?after=sim_nope"), 422, "invalid", None);
}

// --- SIMs -------------------------------------------------------------------

#[test]
fn an_inventory_manifest_stocks_its_valid_iccids_as_inactive_psims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.csv");
    let good = [iccid(1), iccid(2), iccid19(3)];
    let mut bad_check = iccid(4);
    bad_check.pop();
    bad_check.push(if iccid(4).ends_with('0') { '1' } else { '0' });
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "iccid").unwrap();
    for line in [&good[0], &good[1], &good[2], &bad_check, &good[0]] {
        writeln!(file, "{line}").unwrap();
    }
    writeln!(file, "not-an-iccid").unwrap();
    drop(file);

    let api = Api::start(EmulatorConfig {
        inventory: vec![path],
        provider: "p9".to_owned(),
        ..EmulatorConfig::default()
    });
    let stock = api.emulator.stock();
    assert_eq!(stock.sims, 3);
    assert_eq!(stock.skipped, 3, "bad check digit, duplicate, not an ICCID");

    let (_, list) = api.get("/sims");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for sim in items {
        assert_eq!(sim["object"], "sim");
        assert_eq!(sim["type"], "pSIM");
        assert_eq!(sim["provider"], "p9");
        assert_eq!(sim["status"], "inactive");
        assert!(sim["id"].as_str().unwrap().starts_with("sim_"));
        assert!(sim["createdAt"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn an_unreadable_inventory_manifest_stops_the_start() {
    let config = EmulatorConfig {
        inventory: vec!["/nonexistent/inventory.csv".into()],
        ..EmulatorConfig::default()
    };
    assert!(simboard::emulator::Emulator::start(config).is_err());
}

#[test]
fn sims_filter_on_provider_status_type_and_user() {
    let stocked = iccids(4);
    let api = Api::with_sims(&stocked);
    let user = api.user("ada@example.com");
    let sim = api.sim_id(&stocked[0]);
    assert_eq!(api.subscribe("pln_p4_standard", &user, &sim).0, 201);

    let (_, active) = api.get("/sims?status=active");
    assert_eq!(ids(&active), std::slice::from_ref(&sim));
    let (_, either) = api.get("/sims?status=inactive,active");
    assert_eq!(ids(&either).len(), 4);
    let (_, inactive) = api.get("/sims?status=inactive&type=pSIM&provider=p4");
    assert_eq!(ids(&inactive).len(), 3);
    let (_, of_user) = api.get(&format!("/sims?user={user}"));
    assert_eq!(ids(&of_user), [sim]);
    let (_, p9) = api.get("/sims?provider=p9");
    assert!(ids(&p9).is_empty());
    let (_, esims) = api.get("/sims?type=eSIM");
    assert!(ids(&esims).is_empty());
}

#[test]
fn a_sim_is_read_by_id_and_an_unknown_id_is_404() {
    let stocked = iccids(2);
    let api = Api::with_sims(&stocked);
    let sim = api.sim_id(&stocked[1]);
    let (status, body) = api.get(&format!("/sims/{sim}"));
    assert_eq!(status, 200);
    assert_eq!(body["iccid"], stocked[1].as_str());
    assert_error(&api.get("/sims/sim_missing"), 404, "notFound", None);
}

#[test]
fn search_finds_a_sim_by_iccid_and_nothing_is_an_empty_list() {
    let stocked = iccids(3);
    let api = Api::with_sims(&stocked);
    let (status, found) = api.post("/sims/search", json!({ "iccid": stocked[2] }));
    assert_eq!(status, 200);
    assert_eq!(found["object"], "list");
    assert_eq!(found["items"][0]["iccid"], stocked[2].as_str());
    assert_eq!(found["moreItemsAfter"], Value::Null);

    let (status, none) = api.post("/sims/search", json!({ "iccid": iccid(999) }));
    assert_eq!(status, 200);
    assert_eq!(none["items"], json!([]));
}

#[test]
fn search_of_a_19_digit_iccid_with_f_padding_finds_the_19_digit_sim() {
    let short = iccid19(42);
    let api = Api::with_sims(std::slice::from_ref(&short));
    for padded in [format!("{short}F"), format!("{short}f")] {
        let (status, found) = api.post("/sims/search", json!({ "iccid": padded }));
        assert_eq!(status, 200);
        assert_eq!(found["items"][0]["iccid"], short.as_str(), "{padded}");
    }
}

#[test]
fn search_refuses_what_is_not_an_iccid_with_invalid_iccid() {
    let api = Api::with_sims(&iccids(1));
    for bad in [
        "898830700000075371",      // 18 digits
        "898830700000075371190",   // 21 digits
        "89883070000007537119F",   // 20 digits then F
        "8988307000000753711X",    // not a digit
        "8988 3070 0000 0753 711", // spaces
    ] {
        let answer = api.post("/sims/search", json!({ "iccid": bad }));
        assert_error(&answer, 422, "invalid", Some("invalidICCID"));
    }
    assert_error(&api.post("/sims/search", json!({})), 422, "invalid", None);
    assert_error(
        &api.post("/sims/search", json!({"iccid": 8988})),
        422,
        "invalid",
        None,
    );
}

#[test]
fn search_keeps_only_the_sim_types_asked_for() {
    let stocked = iccids(1);
    let api = Api::with_sims(&stocked);
    let esim_only = api.post(
        "/sims/search",
        json!({ "iccid": stocked[0], "type": ["eSIM"] }),
    );
    assert_eq!(esim_only.1["items"], json!([]));
    let psim = api.post(
        "/sims/search",
        json!({ "iccid": stocked[0], "type": ["pSIM"] }),
    );
    assert_eq!(psim.1["items"].as_array().unwrap().len(), 1);
    let bad = api.post(
        "/sims/search",
        json!({ "iccid": stocked[0], "type": "pSIM" }),
    );
    assert_error(&bad, 422, "invalid", None);
}

#[test]
fn search_of_a_placeholder_iccid_returns_the_placeholder() {
    let api = Api::start(EmulatorConfig::default());
    let cases = [
        ("89424242424242424242", "sim_test_psim", "pSIM"),
        ("89424242420000037469", "sim_test_esim", "eSIM"),
        (
            "89424242420033529334",
            "sim_test_psim_delayed_up_to_one_min",
            "pSIM",
        ),
        (
            "89424242423487468777",
            "sim_test_psim_delayed_four_hours",
            "pSIM",
        ),
    ];
    for (iccid, id, sim_type) in cases {
        let (status, found) = api.post("/sims/search", json!({ "iccid": iccid }));
        assert_eq!(status, 200);
        let sim = &found["items"][0];
        assert_eq!(sim["id"], id);
        assert_eq!(sim["type"], sim_type);
        assert_eq!(sim["provider"], "test");
        assert_eq!(sim["status"], "inactive");
    }
}

// --- Plans -------------------------------------------------------------------

#[test]
fn plans_list_only_available_ones_by_default() {
    let api = Api::start(EmulatorConfig::default());
    let (status, list) = api.get("/plans?limit=200");
    assert_eq!(status, 200);
    let mut got = ids(&list);
    got.sort();
    assert_eq!(
        got,
        [
            "pln_p4_address",
            "pln_p4_esim_only",
            "pln_p4_standard",
            "pln_p5_birthday",
            "pln_p5_device",
            "pln_p5_full_name",
            "pln_p5_usage_started",
            "pln_p9_standard",
            "pln_test_standard"
        ]
    );
    for plan in list["items"].as_array().unwrap() {
        assert_eq!(plan["object"], "plan");
        assert_eq!(plan["status"], "available");
        assert!(plan["simTypes"].is_array());
        assert!(plan["requirements"]["address"].is_string());
        assert!(plan["requirements"]["user.fullName"].is_string());
        assert!(plan["activationTrigger"].is_string());
    }
}

#[test]
fn plans_filter_on_status_provider_and_sim_type() {
    let api = Api::start(EmulatorConfig::default());
    let (_, archived) = api.get("/plans?status=archived");
    assert_eq!(ids(&archived), ["pln_p4_archived"]);
    let (_, all) = api.get("/plans?status=available,archived&limit=200");
    assert_eq!(ids(&all).len(), 10);
    let (_, p9) = api.get("/plans?provider=p9");
    assert_eq!(ids(&p9), ["pln_p9_standard"]);
    let (_, esim) = api.get("/plans?provider=p4&simType=eSIM");
    let mut esim = ids(&esim);
    esim.sort();
    assert_eq!(esim, ["pln_p4_esim_only", "pln_p4_standard"]);
}

#[test]
fn a_plan_is_read_by_id_and_an_unknown_id_is_404() {
    let api = Api::start(EmulatorConfig::default());
    let (status, plan) = api.get("/plans/pln_p4_address");
    assert_eq!(status, 200);
    assert_eq!(plan["provider"], "p4");
    assert_eq!(plan["simTypes"], json!(["pSIM"]));
    assert_eq!(plan["requirements"]["address"], "present");
    // An archived plan can still be read by id.
    assert_eq!(api.get("/plans/pln_p4_archived").1["status"], "archived");
    assert_error(&api.get("/plans/pln_nope"), 404, "notFound", None);
}

#[test]
fn a_plans_file_replaces_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.json");
    let plans = json!([
        {"id": "pln_mine", "name": "Mine", "provider": "p4", "simTypes": ["pSIM"], "status": "active",
         "requirements": {"address": "none"}, "price": {"amount": 1, "currency": "EUR"}},
        {"id": "pln_old", "provider": "p4", "simTypes": ["pSIM"], "status": "archived"}
    ]);
    std::fs::write(&path, plans.to_string()).unwrap();
    let api = Api::start(EmulatorConfig {
        plans: Some(path),
        ..EmulatorConfig::default()
    });
    let (_, list) = api.get("/plans");
    // `active`, the older word, counts as available.
    assert_eq!(ids(&list), ["pln_mine"]);
    assert_eq!(list["items"][0]["object"], "plan");
    assert_eq!(list["items"][0]["price"]["currency"], "EUR");
    assert_error(&api.get("/plans/pln_p4_standard"), 404, "notFound", None);
}

#[test]
fn a_plans_file_that_is_not_a_list_of_plans_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.json");
    std::fs::write(&path, r#"[{"id": "pln_x", "provider": "p4"}]"#).unwrap();
    let config = EmulatorConfig {
        plans: Some(path),
        ..EmulatorConfig::default()
    };
    assert!(simboard::emulator::Emulator::start(config).is_err());
}

// --- Users -------------------------------------------------------------------

#[test]
fn a_user_is_created_read_and_found_by_email() {
    let api = Api::start(EmulatorConfig::default());
    let (status, user) = api.post(
        "/users",
        json!({"email": "Grace@Example.com", "fullName": "Grace Hopper", "birthday": "1906-12-09"}),
    );
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["object"], "user");
    assert_eq!(user["email"], "Grace@Example.com");
    assert_eq!(user["fullName"], "Grace Hopper");
    assert_eq!(user["status"], "active");
    let user_id = id(&user);
    assert!(user_id.starts_with("usr_"));

    assert_eq!(api.get(&format!("/users/{user_id}")).1, user);
    let (status, found) = api.post("/users/search", json!({"email": "grace@example.COM"}));
    assert_eq!(status, 200);
    assert_eq!(ids(&found), [user_id]);
    let (_, none) = api.post("/users/search", json!({"email": "nobody@example.com"}));
    assert_eq!(none["items"], json!([]));
    assert_error(&api.get("/users/usr_nope"), 404, "notFound", None);
}

#[test]
fn a_taken_email_in_any_case_is_user_already_exists() {
    let api = Api::start(EmulatorConfig::default());
    api.user("ada@example.com");
    let again = api.post("/users", json!({"email": "ADA@example.com"}));
    assert_error(&again, 422, "invalid", Some("userAlreadyExists"));
    assert_eq!(api.counter("usersCreated"), 1);
}

#[test]
fn a_user_needs_an_email_address() {
    let api = Api::start(EmulatorConfig::default());
    assert_error(&api.post("/users", json!({})), 422, "invalid", None);
    assert_error(
        &api.post("/users", json!({"email": 7})),
        422,
        "invalid",
        None,
    );
    let not_email = api.post("/users", json!({"email": "nope"}));
    assert_error(&not_email, 422, "invalid", Some("invalidEmail"));
    let bad_day = api.post("/users", json!({"email": "a@b.co", "birthday": "9 May"}));
    assert_error(&bad_day, 422, "invalid", None);
}

#[test]
fn users_are_listed_newest_first_page_by_page() {
    let api = Api::with_sims(&[]);
    let made: Vec<String> = (0..3)
        .map(|i| api.user(&format!("u{i}@x.example")))
        .collect();

    let (status, first) = api.get("/users?limit=2");
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), vec![made[2].clone(), made[1].clone()]);
    assert_eq!(first["moreItemsAfter"], made[1].as_str());
    let (_, rest) = api.get(&format!("/users?limit=2&after={}", made[1]));
    assert_eq!(ids(&rest), vec![made[0].clone()]);
    assert!(rest["moreItemsAfter"].is_null());
    assert_eq!(rest["items"][0]["email"], "u0@x.example");
}
