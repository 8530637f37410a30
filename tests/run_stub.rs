//! The one story the emulator cannot stage: a server whose answers are not
//! JSON. The emulator always answers well-formed Gigs JSON (that is its
//! contract), so a client's handling of a broken server is tested against a
//! scripted one. Every other story of `simboard run`, a retired SIM and a
//! token revoked in mid-run included, runs against the emulator.

mod common;

use common::stub::{self, Stub};
use common::{iccid_batch, manifest, results, stderr};

#[test]
fn an_answer_that_is_not_json_is_an_api_error_not_a_crash() {
    let iccid = iccid_batch(42, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "inactive");
    let stub = Stub::start(move |_, path, _| match path {
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, found.clone()),
        p if p.ends_with("/subscriptions") => (201, "<html>ok</html>".to_owned()),
        p if p.contains("/subscriptions?") => (200, r#"{"items":[{"id":7}]}"#.to_owned()),
        _ => (418, "teapot".to_owned()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &iccid_batch(42, 1)),
    )
    .unwrap();

    let out = stub.run(dir.path(), &["--user", "usr_1"]);

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = results(&dir.path().join("r.csv"));
    let message = common::failed(&lines, 2, "api_error");
    assert!(message.contains("HTTP"), "{message}");
}
