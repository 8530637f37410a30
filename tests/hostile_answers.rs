//! `simboard run` against answers a real network or a misbehaving API gives:
//! a scripted proxy ([`proxy`]) sits in front of the emulator and turns some
//! of its answers into 429 storms, endless bodies, huge messages, error
//! objects with status 200, lists where an object belongs, or redirects.
//! Each test drives the real binary through it and checks what a user sees:
//! the exit code, stderr, the result file and the emulator's state.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::proxy::{route, Act, Answer, Proxy, Seen};
use common::*;

/// `simboard run` against the emulator of `world`, through `api` (the
/// proxy's URL, or any other). Rows are looked up one by one
/// (`--resolve search`), so that each story meets the hostile answers of the
/// per-row calls it scripts; [`a_sim_listing_answered_with_an_error_object_is_given_up_and_the_rows_searched`]
/// scripts the listing of the default.
fn command(world: &World, api: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
    cmd.current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .env_remove("GIGS_PROJECT")
        .env_remove("GIGS_API_URL")
        .arg("run")
        .args(["--resolve", "search"])
        .args(args)
        .args(["--api-url", api, "--project", &world.project]);
    cmd
}

fn run(world: &World, api: &str, args: &[&str]) -> Output {
    command(world, api, args).output().unwrap()
}

/// Runs to the end and returns the output and the child's peak resident
/// memory in bytes (from `wait4`, for this child alone).
#[allow(clippy::zombie_processes, reason = "wait4 below reaps the child")]
fn run_measured(world: &World, api: &str, args: &[&str]) -> (Output, u64) {
    let mut child = command(world, api, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        bytes
    });
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

/// A world of `n` SIMs and a manifest of them, all for one email.
fn world_with_manifest(batch: u32, n: usize) -> (World, Vec<String>) {
    let sims = iccid_batch(batch, n);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .map(|s| format!("{s},k@x.example,Kay"))
        .collect();
    world.write("m.csv", &manifest("iccid,email,full_name", &rows));
    (world, sims)
}

#[track_caller]
fn all_onboarded(world: &World, n: usize) {
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), n);
    for l in &lines {
        assert_eq!(l.outcome, "onboarded", "line {}: {}", l.line, l.message);
    }
    let per_sim = world.subscriptions_per_sim();
    assert_eq!(per_sim.len(), n);
    assert!(per_sim.values().all(|&k| k == 1), "{per_sim:?}");
}

fn is(seen: &Seen, name: &str) -> bool {
    route(&seen.path) == name
}

#[test]
fn a_storm_of_429s_during_the_preflight_is_waited_out_and_every_row_onboarded() {
    let (world, _) = world_with_manifest(70, 6);
    // The plan listing is refused 4 times (with and without Retry-After),
    // then every search 3 times: the run must wait, not give up.
    let proxy = Proxy::start(&world.url, |seen| match seen.rank {
        0 | 1 if is(seen, "plans") => Answer::too_many(Some("1")),
        2 | 3 if is(seen, "plans") => Answer::too_many(None),
        0..=2 if is(seen, "sims/search") => Answer::too_many(None),
        _ => Act::Forward,
    });
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 6);
    assert_eq!(proxy.count("plans"), 5, "four 429s, then the listing");
    let summary = stderr(&out);
    assert!(
        summary.contains("429"),
        "the summary counts 429s: {summary}"
    );
}

#[test]
fn a_retry_after_beyond_max_wait_fails_clearly_and_a_long_wait_is_announced() {
    let (world, _) = world_with_manifest(71, 3);
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "sims/search") && seen.rank == 0 {
            Answer::too_many(Some("999999"))
        } else {
            Act::Forward
        }
    });
    let started = Instant::now();
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-wait", "20s"],
    );
    let err = stderr(&out);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the run gave up instead of waiting: {err}"
    );
    assert!(
        err.contains("429") && err.contains("--max-wait"),
        "the long wait is announced without -v: {err}"
    );
    let lines = results(&world.path("r.csv"));
    let gave_up: Vec<&Line> = lines.iter().filter(|l| l.outcome == "failed").collect();
    assert!(!gave_up.is_empty(), "{err}");
    for l in gave_up {
        assert_eq!(l.reason, "api_error");
        assert!(l.message.contains("--max-wait"), "{}", l.message);
    }
    // Not final: a resume through a calm API finishes the job.
    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
}

#[test]
fn a_body_that_never_ends_fails_quickly_as_a_protocol_error_in_bounded_memory() {
    let (world, _) = world_with_manifest(72, 2);
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "sims/search") {
            Act::Endless
        } else {
            Act::Forward
        }
    });
    let started = Instant::now();
    let (out, peak) = run_measured(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    );
    let err = stderr(&out);
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert!(
        peak < 100 * 1024 * 1024,
        "peak memory {} MB reading endless bodies",
        peak / 1024 / 1024
    );
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(
            (l.outcome.as_str(), l.reason.as_str()),
            ("failed", "api_error")
        );
        assert!(l.message.len() <= 1000, "{}", l.message);
    }
    assert_eq!(world.counter("subscriptionsCreated"), 0);
}

#[test]
fn huge_api_messages_are_cut_in_the_results() {
    let (world, _) = world_with_manifest(73, 3);
    let message = |size: usize| {
        format!(
            r#"{{"object":"error","type":"invalidRequest","code":"planInvalid","message":"{}"}}"#,
            "Z".repeat(size)
        )
    };
    // One message under the body cap (copied, cut) and one of 50 MB (over
    // the cap: a protocol error).
    let proxy = Proxy::start(&world.url, move |seen| match seen.rank {
        0 if is(seen, "subscriptions") && seen.method == "POST" => {
            Answer::json(422, message(1_000_000))
        }
        1 if is(seen, "subscriptions") && seen.method == "POST" => {
            Answer::json(422, message(50_000_000))
        }
        _ => Act::Forward,
    });
    let out = run(
        &world,
        &proxy.url,
        &[
            "m.csv",
            "-o",
            "r.csv",
            "--max-retries",
            "0",
            "--concurrency",
            "1",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines = results(&world.path("r.csv"));
    let failed: Vec<&Line> = lines.iter().filter(|l| l.outcome == "failed").collect();
    assert_eq!(failed.len(), 2, "{lines:#?}");
    for l in failed {
        // The API's own text is cut to 300 characters; simboard's words
        // around it (method, path, status, code) come on top.
        let copied = l.message.chars().filter(|&c| c == 'Z').count();
        assert!(copied <= 300, "line {}: {copied} characters copied", l.line);
        assert!(
            l.message.chars().count() <= 500,
            "line {}: a message of {} characters: {}",
            l.line,
            l.message.chars().count(),
            l.message
        );
    }
    let size = std::fs::metadata(world.path("r.csv")).unwrap().len();
    assert!(size < 10_000, "the result file is {size} bytes");
    assert!(err.len() < 10_000, "stderr is {} bytes", err.len());
}

/// A 200 answer holding an error object, as a misconfigured gateway sends.
const ERROR_200: &str = r#"{"object":"error","type":"internalError","code":"unavailable","message":"upstream unavailable"}"#;

#[test]
fn an_error_object_with_200_on_the_sim_search_is_a_protocol_error_that_resume_retries() {
    let (world, _) = world_with_manifest(74, 3);
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "sims/search") {
            Answer::json(200, ERROR_200)
        } else {
            Act::Forward
        }
    });
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    for l in &lines {
        assert_eq!(
            (l.outcome.as_str(), l.reason.as_str()),
            ("failed", "api_error"),
            "line {}: not sim_not_found: {}",
            l.line,
            l.message
        );
    }
    assert!(proxy.count("sims/search") >= 6, "each search was retried");

    let out = world.run(&["m.csv", "-o", "r.csv", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
}

#[test]
fn an_error_object_with_200_on_the_plan_listing_stops_the_run_not_the_rows() {
    let (world, _) = world_with_manifest(75, 3);
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "plans") {
            Answer::json(200, ERROR_200)
        } else {
            Act::Forward
        }
    });
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("no_compatible_plan"), "{err}");
    assert_eq!(proxy.count("sims/search"), 0, "no row was started: {err}");
    // Nothing was made final: the same command against a sane API onboards all.
    let out = world.run(&["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
}

#[test]
fn a_list_where_a_subscription_belongs_is_never_taken_for_one_and_onboards_once() {
    let (world, _) = world_with_manifest(76, 3);
    // The create reaches the emulator, but the answer is a list: the
    // subscription exists, and simboard must find it rather than make two.
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "subscriptions") && seen.method == "POST" && seen.rank < 2 {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 201,
                headers: Vec::new(),
                body:
                    br#"{"object":"list","items":[],"moreItemsAfter":null,"moreItemsBefore":null}"#
                        .to_vec(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(&world, &proxy.url, &["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && is(s, "subscriptions"))
        .count();
    assert_eq!(creates, 3, "the two lists were checked, not created again");
}

#[test]
fn a_redirect_is_a_protocol_error_naming_its_location_and_the_target_gets_nothing() {
    let (world, _) = world_with_manifest(77, 2);
    let elsewhere = Proxy::start(&world.url, |_| Answer::json(500, "{}"));
    let target = format!("{}/collect", elsewhere.url);
    let location = target.clone();
    let proxy = Proxy::start(&world.url, move |seen| {
        if is(seen, "users") && seen.method == "POST" {
            Act::Answer(proxy::Answer {
                status: 307,
                headers: vec![("Location".to_owned(), location.clone())],
                body: Vec::new(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    );
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(elsewhere.seen().is_empty(), "the redirect was followed");
    let lines = results(&world.path("r.csv"));
    let named = lines.iter().any(|l| l.message.contains(&target)) || err.contains(&target);
    assert!(named, "the Location is named: {err} {lines:#?}");
    assert!(lines.iter().all(|l| l.outcome == "failed"), "{lines:#?}");
    assert_eq!(world.counter("usersCreated"), 0);
}

#[test]
fn a_password_in_the_api_url_never_appears_in_any_output() {
    let (world, _) = world_with_manifest(78, 2);
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "sims/search") {
            Answer::json(503, "{}")
        } else {
            Act::Forward
        }
    });
    let host = proxy.url.trim_start_matches("http://");
    let with_password = format!("http://ops:Hunter2Secret@{host}");
    for extra in [&[][..], &["-v"][..]] {
        let mut args = vec!["m.csv", "-o", "r.csv", "--max-retries", "0"];
        args.extend_from_slice(extra);
        let _ = std::fs::remove_file(world.path("r.csv"));
        let out = run(&world, &with_password, &args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        for (name, bytes) in [
            ("stdout", out.stdout.clone()),
            ("stderr", out.stderr.clone()),
            ("results", std::fs::read(world.path("r.csv")).unwrap()),
        ] {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("Hunter2Secret"), "{name}: {text}");
        }
    }
    // And a URL that cannot be reached at all, which fails the preflight.
    let out = run(
        &world,
        "http://ops:Hunter2Secret@127.0.0.1:9/",
        &["m.csv", "-o", "r2.csv", "--max-retries", "0"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("Hunter2Secret"), "{}", stderr(&out));
}

/// The moment the proxy saw the `rank`th request to `route_name`.
fn arrival(proxy: &Proxy, route_name: &str, rank: usize) -> Instant {
    proxy
        .seen()
        .iter()
        .find(|s| is(s, route_name) && s.rank == rank)
        .map(|s| s.at)
        .unwrap_or_else(|| panic!("no request {rank} to {route_name}"))
}

#[test]
fn a_storm_of_429s_without_retry_after_on_the_sim_search_is_over_soon_after_its_last_429() {
    let (world, _) = world_with_manifest(79, 100);
    // Searches 20 to 39 are refused, with no hint of how long to wait; the
    // other requests are answered as usual.
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "sims/search") && (20..40).contains(&seen.rank) {
            Answer::too_many(None)
        } else {
            Act::Forward
        }
    });
    let out = command(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--max-retries", "1"],
    )
    .output()
    .unwrap();
    let ended = Instant::now();
    let summary = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{summary}");
    all_onboarded(&world, 100);
    assert!(summary.contains("20 answered 429"), "{summary}");
    // 80 rows are left after the storm; unpaced they take well under a
    // second, and the pace is to be back within 10 s of the last 429.
    let after_storm = ended - arrival(&proxy, "sims/search", 39);
    assert!(
        after_storm < Duration::from_secs(15),
        "the run went on for {after_storm:?} after the storm's last 429: {summary}"
    );
}

#[test]
fn a_sim_listing_answered_with_an_error_object_is_given_up_and_the_rows_searched() {
    let (world, _) = world_with_manifest(79, 3);
    let proxy = Proxy::start(&world.url, |seen| {
        if seen.method == "GET" && is(seen, "sims") {
            Answer::json(200, ERROR_200)
        } else {
            Act::Forward
        }
    });
    // The default, `--resolve auto`, reads the SIMs first.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
    cmd.current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args(["run", "m.csv", "-o", "r.csv", "--max-retries", "1"])
        .args(["--api-url", &proxy.url, "--project", &world.project]);

    let out = cmd.output().unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
    assert_eq!(proxy.count("sims"), 2, "the page and its one retry");
    assert_eq!(proxy.count("sims/search"), 3, "then each row searched");
    let err = stderr(&out);
    assert!(err.contains("given up"), "the summary says so: {err}");
}

/// The emulator's live subscriptions as (id, sim id, user id).
fn live_subscriptions(world: &World) -> Vec<(String, String, String)> {
    let state = world.state();
    let field = |v: &serde_json::Value| match v {
        serde_json::Value::String(id) => id.clone(),
        other => other["id"].as_str().unwrap_or_default().to_owned(),
    };
    state["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "ended")
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                field(&s["sim"]),
                field(&s["user"]),
            )
        })
        .collect()
}

#[test]
fn a_create_answer_naming_another_sim_is_not_taken_for_this_rows_subscription() {
    let (world, _) = world_with_manifest(93, 2);
    // The create lands, but its answer names a subscription of another SIM:
    // the row must end with its own SIM's subscription, not that one.
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "subscriptions") && seen.method == "POST" && seen.rank == 0 {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 201,
                headers: Vec::new(),
                body: br#"{"object":"subscription","id":"sub_someone_elses","status":"active",
                    "sim":{"object":"sim","id":"sim_someone_elses"},
                    "plan":{"object":"plan","id":"pln_someone_elses"},
                    "user":{"object":"user","id":"usr_someone_elses"}}"#
                    .to_vec(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(&world, &proxy.url, &["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 2);
    let live = live_subscriptions(&world);
    for l in results(&world.path("r.csv")) {
        assert!(
            live.iter().any(|(id, sim, user)| *id == l.subscription_id
                && *sim == l.sim_id
                && *user == l.user_id),
            "line {} names {} / {} / {}, which is not its SIM's subscription: {live:?}",
            l.line,
            l.subscription_id,
            l.sim_id,
            l.user_id
        );
    }
}

#[test]
fn a_user_create_answer_naming_another_email_is_not_taken_for_the_rows_user() {
    let (world, _) = world_with_manifest(94, 2);
    // The user is created, but the answer names someone else: the rows must
    // be subscribed to the user with their email, and no second user made.
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "users") && seen.method == "POST" && seen.rank == 0 {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 201,
                headers: Vec::new(),
                body: br#"{"object":"user","id":"usr_someone_elses","email":"other@x.example"}"#
                    .to_vec(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(&world, &proxy.url, &["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 2);
    assert_eq!(world.counter("usersCreated"), 1);
    let users = world.state()["users"].as_array().unwrap().clone();
    let kay = users
        .iter()
        .find(|u| u["email"] == "k@x.example")
        .expect("the user with the rows' email");
    for l in results(&world.path("r.csv")) {
        assert_eq!(l.user_id, kay["id"].as_str().unwrap(), "line {}", l.line);
    }
}

#[test]
fn an_address_create_answer_naming_another_address_is_not_sent_with_the_subscription() {
    let sims = iccid_batch(95, 2);
    let world = World::with_stock(&sims);
    let rows: Vec<String> = sims
        .iter()
        .map(|s| format!("{s},ann@acme.example,1 Main St,Berlin,DE"))
        .collect();
    world.write(
        "m.csv",
        &manifest(
            "iccid,email,address_line1,address_city,address_country",
            &rows,
        ),
    );
    // The address is created, but the answer is some other address: the
    // subscriptions must carry the user's address with the row's street.
    let first = std::sync::atomic::AtomicBool::new(true);
    let proxy = Proxy::start(&world.url, move |seen| {
        let create = seen.path.contains("/addresses") && seen.method == "POST";
        if create && first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 201,
                headers: Vec::new(),
                body: br#"{"object":"userAddress","id":"adr_someone_elses",
                    "line1":"9 Side Rd","city":"Paris","country":"FR"}"#
                    .to_vec(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(
        &world,
        &proxy.url,
        &["m.csv", "-o", "r.csv", "--plan", "pln_p4_address"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 2);
    let state = world.state();
    let addresses = state["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1, "{addresses:#?}");
    let address = addresses[0]["id"].as_str().unwrap();
    for sub in state["subscriptions"].as_array().unwrap() {
        let used = match &sub["userAddress"] {
            serde_json::Value::String(id) => id.clone(),
            other => other["id"].as_str().unwrap_or_default().to_owned(),
        };
        assert_eq!(used, address, "{sub:#}");
    }
}

#[test]
fn a_user_fetched_by_id_that_answers_as_another_user_gets_no_subscription() {
    let (world, sims) = world_with_manifest(97, 2);
    world.write("ids.csv", &manifest("iccid", &sims));
    let asked = world.user("asked@x.example");
    let other = world.user("other@x.example");
    // Asked for one user, the API answers with another (who exists): the
    // rows must not be subscribed to the one they did not ask for.
    let body = format!(r#"{{"object":"user","id":"{other}","email":"other@x.example"}}"#);
    let wanted = format!("/users/{asked}");
    let proxy = Proxy::start(&world.url, move |seen| {
        if seen.method == "GET" && seen.path.ends_with(&wanted) {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 200,
                headers: Vec::new(),
                body: body.clone().into_bytes(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(
        &world,
        &proxy.url,
        &[
            "ids.csv",
            "-o",
            "r.csv",
            "--user",
            &asked,
            "--max-retries",
            "1",
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    let live = live_subscriptions(&world);
    assert!(
        live.iter().all(|(_, _, user)| *user != other),
        "subscribed to a user the rows did not ask for: {live:?}"
    );
    for l in results(&world.path("r.csv")) {
        assert_eq!(
            (l.outcome.as_str(), l.reason.as_str()),
            ("failed", "api_error"),
            "{l:?}"
        );
    }
}

#[test]
fn run_on_two_thousand_rows_of_100_kb_peaks_under_150_mb() {
    // Issue 12: memory must not grow with row width (it peaked at 370-610 MB).
    let sims = iccid_batch(99, 2_000);
    let world = World::with_stock(&sims);
    // Written row by row: a child's peak memory counts what this process
    // held when it was forked, so the test holds no 200 MB copy.
    let note = "n".repeat(100_000);
    let file = std::fs::File::create(world.path("wide.csv")).unwrap();
    let mut file = std::io::BufWriter::new(file);
    std::io::Write::write_all(&mut file, b"iccid,email,note\n").unwrap();
    for (i, sim) in sims.iter().enumerate() {
        writeln!(file, "{sim},u{}@x.example,{note}", i % 50).unwrap();
    }
    drop(file);
    let (out, peak) = run_measured(
        &world,
        &world.url,
        &["wide.csv", "-o", "r.csv", "-q", "--concurrency", "16"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 2_000);
    assert!(lines.iter().all(|l| l.extra[1].len() == 100_000));
    assert!(
        peak <= 150 * 1024 * 1024,
        "peak resident memory {} MB",
        peak / 1024 / 1024
    );
}

#[test]
fn a_user_create_whose_answer_was_lost_is_found_by_searching_not_sent_again() {
    let (world, _) = world_with_manifest(100, 3);
    // The user is made, but the answer is a 502: the email is searched, the
    // user found, and the create never sent again.
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "users") && seen.method == "POST" && seen.rank == 0 {
            Act::ForwardThenAnswer(proxy::Answer {
                status: 502,
                headers: Vec::new(),
                body: b"<html>Bad Gateway</html>".to_vec(),
            })
        } else {
            Act::Forward
        }
    });
    let out = run(&world, &proxy.url, &["m.csv", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
    assert_eq!(world.counter("usersCreated"), 1);
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && is(s, "users"))
        .count();
    assert_eq!(creates, 1, "the lost create was looked up, not sent again");
}

#[test]
fn a_sim_listed_twice_under_one_iccid_is_searched_not_taken_from_the_listing() {
    // The SIM listing shows the row's ICCID twice with different ids: a
    // `deleted` SIM first, then the real one. Which one a search answers
    // with is the search's to say: the listing alone decides nothing.
    let sims = iccid_batch(98, 1);
    let world = World::with_stock(&sims);
    let user = world.user("fleet@x.example");
    let real = world.call(
        "POST",
        "/sims/search",
        Some(serde_json::json!({ "iccid": sims[0] })),
    );
    let real = real["items"][0].clone();
    let real_id = id(&real);
    let mut ghost = real.clone();
    ghost["id"] = "sim_ghost".into();
    ghost["status"] = "deleted".into();
    let page = serde_json::json!({
        "object": "list", "items": [ghost, real], "moreItemsAfter": null, "moreItemsBefore": null
    })
    .to_string();
    world.write("m.csv", &manifest("iccid", &sims));
    let proxy = Proxy::start(&world.url, move |seen| {
        if seen.method == "GET" && is(seen, "sims") {
            Answer::json(200, page.clone())
        } else {
            Act::Forward
        }
    });
    let run_in = |mode: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_simboard"))
            .current_dir(world.work.dir.path())
            .env("GIGS_TOKEN", &world.token)
            .args(["run", "m.csv", "-o", out, "--dry-run", "--resolve", mode])
            .args(["--user", &user])
            .args(["--api-url", &proxy.url, "--project", &world.project])
            .output()
            .unwrap()
    };

    let out = run_in("snapshot", "r.csv");

    let lines = results(&world.path("r.csv"));
    assert_eq!(lines[0].outcome, "would_onboard", "{}", lines[0].message);
    assert_eq!(lines[0].sim_id, real_id);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.count("sims/search"), 1, "the ICCID searched");
}

#[test]
fn an_email_listed_under_two_users_differing_by_case_is_searched_not_taken_from_the_listing() {
    // The users listing shows `Kay@…` (another user) before `kay@…`: an
    // email compares without case, so the listing cannot say which user is
    // the row's. The search says it, as with `--resolve search`.
    let sims = iccid_batch(99, 1);
    let world = World::with_stock(&sims);
    let real_id = world.user("kay@x.example");
    let real = world.call("GET", &format!("/users/{real_id}"), None);
    let mut ghost = real.clone();
    ghost["id"] = "usr_ghost".into();
    ghost["email"] = "Kay@x.example".into();
    let page = serde_json::json!({
        "object": "list", "items": [ghost, real], "moreItemsAfter": null, "moreItemsBefore": null
    })
    .to_string();
    world.write(
        "m.csv",
        &manifest("iccid,email", &[format!("{},kay@x.example", sims[0])]),
    );
    let proxy = Proxy::start(&world.url, move |seen| {
        if seen.method == "GET" && is(seen, "users") && !seen.path.contains("/users/") {
            Answer::json(200, page.clone())
        } else {
            Act::Forward
        }
    });

    let out = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args([
            "run",
            "m.csv",
            "-o",
            "r.csv",
            "--dry-run",
            "--resolve",
            "snapshot",
        ])
        .args(["--api-url", &proxy.url, "--project", &world.project])
        .output()
        .unwrap();

    let lines = results(&world.path("r.csv"));
    assert_eq!(lines[0].outcome, "would_onboard", "{}", lines[0].message);
    assert!(lines[0].message.contains(&real_id), "{}", lines[0].message);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.count("users/search"), 1, "the email searched");
}

#[test]
fn a_snapshot_whose_sim_listing_fails_lists_no_subscriptions_it_cannot_use() {
    // The SIM listing is given up: the rows search their SIMs, and the
    // subscriptions of a SIM not read are never answered from the
    // snapshot, so listing them would only cost calls.
    let (world, _) = world_with_manifest(96, 3);
    let proxy = Proxy::start(&world.url, |seen| {
        if seen.method == "GET" && is(seen, "sims") {
            Answer::json(200, ERROR_200)
        } else {
            Act::Forward
        }
    });

    let out = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args(["run", "m.csv", "-o", "r.csv", "--max-retries", "0"])
        .args(["--resolve", "snapshot"])
        .args(["--api-url", &proxy.url, "--project", &world.project])
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 3);
    assert_eq!(proxy.count("sims/search"), 3, "each row searched");
    let listed = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && is(s, "subscriptions"))
        .count();
    assert_eq!(listed, 0, "{:?}", proxy.seen());
}

#[test]
fn a_sim_listing_whose_cursor_comes_back_is_given_up_and_the_rows_it_missed_searched() {
    let (world, sims) = world_with_manifest(95, 2);
    let first = world.call(
        "POST",
        "/sims/search",
        Some(serde_json::json!({ "iccid": sims[0] })),
    );
    let page = |items: serde_json::Value| {
        serde_json::json!({
            "object": "list", "items": items, "moreItemsAfter": "sim_again", "moreItemsBefore": null
        })
        .to_string()
    };
    let opening = page(serde_json::json!([first["items"][0].clone()]));
    let again = page(serde_json::json!([]));
    let proxy = Proxy::start(&world.url, move |seen| {
        match (seen.method.as_str(), is(seen, "sims")) {
            ("GET", true) if seen.path.contains("after=") => Answer::json(200, again.clone()),
            ("GET", true) => Answer::json(200, opening.clone()),
            _ => Act::Forward,
        }
    });

    let out = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(world.work.dir.path())
        .env("GIGS_TOKEN", &world.token)
        .args(["run", "m.csv", "-o", "r.csv", "--resolve", "snapshot"])
        .args(["--api-url", &proxy.url, "--project", &world.project])
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    all_onboarded(&world, 2);
    assert_eq!(
        proxy.count("sims"),
        2,
        "the cursor came back on the second page"
    );
    assert_eq!(
        proxy.count("sims/search"),
        1,
        "only the SIM the pages missed"
    );
    let err = stderr(&out);
    assert!(
        err.contains("pages do not end"),
        "the summary says why: {err}"
    );
}

/// The `status` filter of a request, as sent (percent-decoded commas too).
fn status_filter(path: &str) -> String {
    path.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("status="))
        .unwrap_or("")
        .replace("%2C", ",")
        .replace("%2c", ",")
}

#[test]
fn a_server_reading_a_comma_list_of_statuses_as_one_unknown_status_changes_no_dry_run() {
    // Comma lists in `status` are unconfirmed: a server may read one as a
    // single status it does not know and answer an empty list. Whatever the
    // way rows are resolved, a held SIM must still be seen as held.
    let sims = iccid_batch(97, 3);
    let world = World::with_stock(&sims);
    let plan = world.plan_where("plain p4 pSIM plan", plain_p4_psim);
    let ours = world.user("ours@x.example");
    let theirs = world.user("theirs@x.example");
    let same = world.subscribe(&plan, &world.sim_id(&sims[0]), &ours);
    let other = world.subscribe(&plan, &world.sim_id(&sims[1]), &theirs);
    world.write("m.csv", &manifest("iccid", &sims));
    let proxy = Proxy::start(&world.url, |seen| {
        if is(seen, "subscriptions") && status_filter(&seen.path).contains(',') {
            Answer::json(
                200,
                r#"{"object":"list","items":[],"moreItemsAfter":null,"moreItemsBefore":null}"#,
            )
        } else {
            Act::Forward
        }
    });

    for mode in ["auto", "snapshot", "search"] {
        let file = format!("r-{mode}.csv");
        let out = Command::new(env!("CARGO_BIN_EXE_simboard"))
            .current_dir(world.work.dir.path())
            .env("GIGS_TOKEN", &world.token)
            .env_remove("GIGS_PROJECT")
            .env_remove("GIGS_API_URL")
            .args(["run", "m.csv", "-o", &file, "--dry-run", "--resolve", mode])
            .args(["--plan", &plan, "--user", &ours])
            .args(["--api-url", &proxy.url, "--project", &world.project])
            .output()
            .unwrap();

        assert_eq!(out.status.code(), Some(1), "{mode}: {}", stderr(&out));
        let lines = results(&world.path(&file));
        let first = line(&lines, 2);
        assert_eq!(
            (first.outcome.as_str(), first.subscription_id.as_str()),
            ("already_onboarded", same.as_str()),
            "{mode}: {}",
            first.message
        );
        let msg = failed(&lines, 3, "sim_in_use");
        assert!(msg.contains(&other), "{mode}: {msg}");
        assert_eq!(line(&lines, 4).outcome, "would_onboard", "{mode}");
    }
    let commas: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| status_filter(&s.path).contains(','))
        .map(|s| s.path)
        .collect();
    assert!(commas.is_empty(), "no comma list is ever sent: {commas:?}");
    assert_eq!(
        world.subscriptions_per_sim().len(),
        2,
        "a dry run makes none"
    );
}
