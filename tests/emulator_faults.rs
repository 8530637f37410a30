//! The emulator's fault knobs (`--latency-ms`, `--rate`, `--fail-rate`,
//! `--drop-rate`, `--seed`), its inspection route and counters, and its
//! refusal to fall over on hostile input.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{assert_error, client, iccids, id, read, Api};
use serde_json::{json, Value};
use simboard::emulator::EmulatorConfig;

fn with_faults(config: EmulatorConfig) -> Api {
    Api::start(EmulatorConfig {
        inventory_iccids: iccids(50),
        ..config
    })
}

#[test]
fn latency_delays_every_answer_but_not_the_state_route() {
    let api = with_faults(EmulatorConfig {
        latency: Duration::from_millis(300),
        ..EmulatorConfig::default()
    });
    let started = Instant::now();
    assert_eq!(api.get("/plans").0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    let unauthorised = read(api.http.get(api.url("/plans")).send().unwrap());
    assert_eq!(unauthorised.0, 401);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "errors wait too"
    );

    let started = Instant::now();
    api.state();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn latency_does_not_hold_up_other_requests() {
    let api = with_faults(EmulatorConfig {
        latency: Duration::from_millis(400),
        ..EmulatorConfig::default()
    });
    // Sixteen requests at once on two worker threads: if the sleep blocked a
    // worker they would take 16 × 400 ms / 2; asleep on the timer, ~400 ms.
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                let http = client();
                let response = http
                    .get(api.url("/plans"))
                    .bearer_auth(api.emulator.token())
                    .send()
                    .unwrap();
                assert_eq!(response.status(), 200);
            });
        }
    });
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn over_the_rate_a_request_gets_429_with_retry_after_in_seconds() {
    // Half a request per second: a bucket of one, refilled in two seconds.
    let api = with_faults(EmulatorConfig {
        rate: Some(0.5),
        ..EmulatorConfig::default()
    });
    assert_eq!(api.get("/plans").0, 200);
    for _ in 0..3 {
        let response = api.get_req("/plans").send().unwrap();
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After is whole seconds");
        assert_eq!(retry_after, 2);
        assert_error(&read(response), 429, "tooManyRequests", Some("rateLimited"));
    }
    // The limit applies before anything else, token check included.
    let no_token = read(api.http.get(api.url("/plans")).send().unwrap());
    assert_eq!(no_token.0, 429);
    assert_eq!(api.counter("rateLimited"), 4);
    assert_eq!(api.counter("requestsTotal"), 5);
}

#[test]
fn a_fail_rate_of_one_fails_every_request_before_anything_is_done() {
    let api = with_faults(EmulatorConfig {
        fail_rate: 1.0,
        seed: 3,
        ..EmulatorConfig::default()
    });
    for i in 0..20 {
        let answer = api.post("/users", json!({"email": format!("u{i}@example.com")}));
        assert!([500, 502, 503].contains(&answer.0), "{answer:?}");
        assert_eq!(answer.1["object"], "error");
        assert!(answer.1["type"].is_string() && answer.1["message"].is_string());
    }
    let state = api.state();
    assert_eq!(state["users"], json!([]));
    assert_eq!(state["counters"]["faultsInjected"], 20);
    assert_eq!(state["counters"]["requestsTotal"], 20);
    assert_eq!(state["counters"]["usersCreated"], 0);
}

/// The statuses of 300 `GET plans` against an emulator with this seed.
fn statuses_at_fail_rate(rate: f64, seed: u64) -> (Vec<u16>, Value) {
    let api = with_faults(EmulatorConfig {
        fail_rate: rate,
        seed,
        ..EmulatorConfig::default()
    });
    let statuses = (0..300).map(|_| api.get("/plans").0).collect();
    (statuses, api.state()["counters"].clone())
}

#[test]
fn a_fail_rate_fails_about_that_share_and_the_counters_agree() {
    let (statuses, counters) = statuses_at_fail_rate(0.3, 42);
    let failed = statuses.iter().filter(|&&s| s >= 500).count() as u64;
    assert!((50..=130).contains(&failed), "{failed} of 300 failed");
    assert!(statuses.iter().all(|s| [200, 500, 502, 503].contains(s)));
    assert_eq!(counters["faultsInjected"], failed);
    assert_eq!(counters["requestsTotal"], 300);
    assert_eq!(counters["requests"]["GET /projects/{project}/plans"], 300);
}

#[test]
fn the_same_seed_injects_the_same_faults() {
    let (first, _) = statuses_at_fail_rate(0.3, 7);
    let (again, _) = statuses_at_fail_rate(0.3, 7);
    let (other, _) = statuses_at_fail_rate(0.3, 8);
    assert_eq!(first, again);
    assert_ne!(first, other);
}

/// Sends one create on a fresh connection, by hand, and answers every byte
/// the server wrote back before closing.
fn raw_create(api: &Api, body: &Value, key: Option<&str>) -> Vec<u8> {
    let address = api.emulator.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.to_string();
    let key = key.map_or(String::new(), |k| format!("Idempotency-Key: {k}\r\n"));
    let request = format!(
        "POST /projects/{}/subscriptions HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n{key}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        api.emulator.project(),
        api.emulator.token(),
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // A reset counts as "closed without an answer" just as an EOF does.
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn a_dropped_create_is_committed_and_the_connection_closes_unanswered() {
    let api = with_faults(EmulatorConfig {
        drop_rate: 1.0,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let sim = api.sim_id(&iccids(1)[0]);
    let body = json!({"plan": "pln_p4_standard", "user": user, "sim": sim});

    assert!(
        raw_create(&api, &body, None).is_empty(),
        "no byte of an answer"
    );
    let state = api.state();
    assert_eq!(state["subscriptions"][0]["sim"], sim.as_str());
    assert_eq!(state["counters"]["dropped"], 1);
    assert_eq!(state["counters"]["subscriptionsCreated"], 1);

    // reqwest sees the same thing as a transport error.
    let other = api.sim_id(&iccids(2)[1]);
    let body = json!({"plan": "pln_p4_standard", "user": user, "sim": other});
    let err = client()
        .post(api.url("/subscriptions"))
        .bearer_auth(api.emulator.token())
        .json(&body)
        .send()
        .expect_err("the connection is closed without an answer");
    assert!(err.status().is_none(), "{err}");
    assert_eq!(api.counter("dropped"), 2);
    assert_eq!(api.state()["subscriptions"].as_array().unwrap().len(), 2);
}

#[test]
fn a_dropped_create_retried_under_its_key_gets_the_lost_answer() {
    let api = with_faults(EmulatorConfig {
        drop_rate: 1.0,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let sim = api.sim_id(&iccids(1)[0]);
    let body = json!({"plan": "pln_p4_standard", "user": user, "sim": sim});
    assert!(raw_create(&api, &body, Some("row-7")).is_empty());

    let replay = read(
        api.post_req("/subscriptions", &body)
            .header("Idempotency-Key", "row-7")
            .send()
            .unwrap(),
    );
    assert_eq!(replay.0, 201, "{}", replay.1);
    assert_eq!(
        id(&replay.1),
        api.state()["subscriptions"][0]["id"].as_str().unwrap()
    );
    assert_eq!(api.counter("subscriptionsCreated"), 1);
}

#[test]
fn a_drop_rate_drops_only_that_share_of_successful_creates() {
    let api = with_faults(EmulatorConfig {
        drop_rate: 0.5,
        seed: 11,
        ..EmulatorConfig::default()
    });
    let user = api.user("ada@example.com");
    let mut dropped = 0;
    for iccid in iccids(40) {
        let sim = api.sim_id(&iccid);
        let body = json!({"plan": "pln_p4_standard", "user": user, "sim": sim});
        match client()
            .post(api.url("/subscriptions"))
            .bearer_auth(api.emulator.token())
            .json(&body)
            .send()
        {
            Ok(response) => assert_eq!(response.status(), 201),
            Err(_) => dropped += 1,
        }
        // A refused create is never dropped: it was not a success.
        assert_eq!(api.subscribe("pln_p4_standard", &user, &sim).0, 422);
    }
    assert!((8..=32).contains(&dropped), "{dropped} of 40 dropped");
    let state = api.state();
    assert_eq!(state["counters"]["dropped"], dropped);
    assert_eq!(state["subscriptions"].as_array().unwrap().len(), 40);
}

#[test]
fn the_state_route_needs_no_token_and_escapes_every_fault() {
    let api = with_faults(EmulatorConfig {
        fail_rate: 1.0,
        rate: Some(0.01),
        latency: Duration::from_millis(500),
        ..EmulatorConfig::default()
    });
    let started = Instant::now();
    for _ in 0..5 {
        let state = api.state();
        assert_eq!(state["sims"].as_array().unwrap().len(), 50);
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        api.counter("requestsTotal"),
        0,
        "the state route is not counted"
    );
}

#[test]
fn the_state_route_has_the_documented_shape() {
    let api = Api::with_sims(&iccids(1));
    let state = api.state();
    for key in ["sims", "plans", "users", "subscriptions"] {
        assert!(state[key].is_array(), "{key}");
    }
    let counters = &state["counters"];
    assert!(counters["requests"].is_object());
    for key in [
        "requestsTotal",
        "rateLimited",
        "faultsInjected",
        "dropped",
        "subscriptionsCreated",
        "usersCreated",
    ] {
        assert_eq!(counters[key], 0, "{key}");
    }
    let post = api
        .http
        .post(format!("{}/_emulator/state", api.emulator.url()))
        .send()
        .unwrap();
    assert_eq!(post.status(), 404);
}

#[test]
fn requests_are_counted_by_method_and_route_template() {
    let stocked = iccids(2);
    let api = Api::with_sims(&stocked);
    let sim = api.sim_id(&stocked[0]);
    api.get(&format!("/sims/{sim}"));
    api.get("/sims/sim_nope");
    api.get("/widgets");
    let _ = api.http.get(api.url("/plans")).send().unwrap();
    let counters = &api.state()["counters"];
    let requests = &counters["requests"];
    assert_eq!(requests["POST /projects/{project}/sims/search"], 1);
    assert_eq!(requests["GET /projects/{project}/sims/{id}"], 2);
    assert_eq!(requests["GET (unmatched)"], 1);
    assert_eq!(
        requests["GET /projects/{project}/plans"], 1,
        "a 401 still counts"
    );
    assert_eq!(counters["requestsTotal"], 5);
}

#[test]
fn hostile_input_never_brings_the_emulator_down() {
    let api = Api::with_sims(&iccids(3));
    let token = api.emulator.token().to_owned();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(2 << 20));
    for body in [
        deep.as_str(),
        huge.as_str(),
        "\u{0}\u{1}",
        "{\"email\": \"\\ud800\"}",
    ] {
        let response = api
            .http
            .post(api.url("/users"))
            .bearer_auth(&token)
            .body(body.to_owned())
            .send();
        if let Ok(response) = response {
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    }
    for path in [
        "/sims?limit=18446744073709551616",
        "/sims?status=%ff%fe",
        "/sims?status=%2C%2C",
        "/sims/%ff%00",
        "/subscriptions?after=&before=",
    ] {
        let (status, _) = api.get(path);
        assert!((400..500).contains(&status), "{path}: {status}");
    }
    // Bytes that are not even HTTP, on a raw connection.
    let address = api.emulator.url().trim_start_matches("http://").to_owned();
    let mut raw = TcpStream::connect(address).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"\xff\xfe GET /\xff HTTP/9\r\n\r\n").unwrap();
    let _ = raw.read_to_end(&mut Vec::new());

    assert_eq!(api.get("/sims").0, 200, "still serving");
}

#[test]
fn shutting_down_frees_the_port() {
    let api = Api::start(EmulatorConfig::default());
    let url = api.emulator.url().to_owned();
    api.emulator.shutdown();
    assert!(client()
        .get(format!("{url}/_emulator/state"))
        .send()
        .is_err());
}
