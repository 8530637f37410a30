//! The stories the emulator cannot stage, told against a scripted server:
//! a retired SIM, a token revoked in mid-run, and answers that are not JSON.

#[path = "common/run_env.rs"]
mod env;
#[path = "common/run_stub.rs"]
mod stub;

use std::process::{Command, Output};

use env::{iccids, manifest, results, stderr};
use stub::Stub;

fn run(stub: &Stub, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(dir)
        .env("GIGS_TOKEN", "sk_stub")
        .args([
            "run",
            "m.csv",
            "-o",
            "r.csv",
            "--project",
            "p",
            "--api-url",
            &stub.url,
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_retired_sim_fails_with_sim_retired() {
    let stub = Stub::start(|_, path, _| match path {
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, stub::sim("sim_old", "retired")),
        _ => (500, "{}".to_owned()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), manifest("iccid", &iccids(40, 1))).unwrap();

    let out = run(&stub, dir.path(), &["--user", "usr_1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    env::failed(&lines, 2, "sim_retired");
    assert_eq!(lines[0].sim_id, "sim_old");
    assert_eq!(stub.requests(), 2, "no call after the search");
}

#[test]
fn a_token_revoked_in_mid_run_stops_the_whole_run() {
    // The preflight and the first few searches pass; then every request is 401.
    let stub = Stub::start(|_, path, rank| match path {
        _ if rank >= 4 => (401, stub::UNAUTHENTICATED.to_owned()),
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, r#"{"object":"list","items":[]}"#.to_owned()),
        _ => (500, "{}".to_owned()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &iccids(41, 200)),
    )
    .unwrap();

    let out = run(
        &stub,
        dir.path(),
        &["--user", "usr_1", "--concurrency", "2"],
    );

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refused the token in mid-run") && err.contains("--resume"),
        "{err}"
    );
    let lines = results(&dir.path().join("r.csv"));
    assert!(lines.len() < 10, "rows stopped at once: {}", lines.len());
    assert!(
        lines.iter().all(|l| l.reason == "sim_not_found"),
        "no row failed for the token"
    );
    assert!(stub.requests() < 10, "{} requests", stub.requests());
}

#[test]
fn an_answer_that_is_not_json_is_an_api_error_not_a_crash() {
    let stub = Stub::start(|_, path, _| match path {
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, stub::sim("sim_1", "inactive")),
        p if p.ends_with("/subscriptions") => (201, "<html>ok</html>".to_owned()),
        p if p.contains("/subscriptions?") => (200, r#"{"items":[{"id":7}]}"#.to_owned()),
        _ => (418, "teapot".to_owned()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), manifest("iccid", &iccids(42, 1))).unwrap();

    let out = run(&stub, dir.path(), &["--user", "usr_1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let message = env::failed(&lines, 2, "api_error");
    assert!(message.contains("HTTP"), "{message}");
}
