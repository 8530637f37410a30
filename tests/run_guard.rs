//! What `simboard run` finds before its first request: another run on the
//! same result file (one run per result file, by an OS lock), `-o` a
//! directory or an unwritable place, earlier results that would be
//! overwritten, a standard output that is closed or goes away.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::stub::{self, Stub};
use common::*;
use simboard::emulator::EmulatorConfig;

/// A server that accepts connections and never answers: a run that sends
/// its first request there holds its lock until it is killed. The receiver
/// gets one message per connection.
fn silent_server() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// `simboard run m.csv -o r.csv` in `dir` against `url`, and `args` after.
fn run_against(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
    cmd.current_dir(dir)
        .env_remove("GIGS_PROJECT")
        .env_remove("GIGS_API_URL")
        .env("GIGS_TOKEN", "sk_test_guard")
        .args(["run", "m.csv", "--project", "p", "--api-url", url])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Starts a run on `r.csv` that is stuck in its first request, and returns
/// once that request has reached the server (the lock is taken before it).
fn stuck_run(dir: &Path) -> Child {
    let (url, reached) = silent_server();
    let child = run_against(dir, &url, &["-o", "r.csv", "--user", "usr_1"])
        .spawn()
        .unwrap();
    reached
        .recv_timeout(Duration::from_secs(30))
        .expect("the first run never sent its first request");
    child
}

fn end(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_second_run_on_the_same_result_file_stops_at_once_and_names_the_first() {
    let world = World::with_stock(&iccid_batch(61, 3));
    world.write("m.csv", &manifest("iccid", &iccid_batch(61, 3)));
    let first = stuck_run(world.work.dir.path());

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", "usr_1"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("another simboard run"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(!err.contains(&world.token), "{err}");
    assert_eq!(
        world.counter("requestsTotal"),
        0,
        "the second run sent nothing"
    );
    end(first);
}

#[test]
fn a_resume_while_the_run_is_going_is_refused() {
    let world = World::with_stock(&iccid_batch(62, 3));
    world.write("m.csv", &manifest("iccid", &iccid_batch(62, 3)));
    let first = stuck_run(world.work.dir.path());

    let out = world.run(&["m.csv", "-o", "r.csv", "--user", "usr_1", "--resume"]);

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&out)
    );
    end(first);
}

#[test]
fn two_runs_on_different_result_files_both_go_ahead() {
    let sims = iccid_batch(63, 3);
    let world = World::with_stock(&sims);
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let first = stuck_run(world.work.dir.path());

    let out = world.run(&["m.csv", "-o", "other.csv", "--user", &user]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&world.path("other.csv")).len(), 3);
    end(first);
}

/// A stub that answers every request well, counting them.
fn counting_stub() -> Stub {
    let iccid = iccid_batch(64, 1).remove(0);
    let found = stub::sim("sim_1", &iccid, "inactive");
    Stub::start(move |_, path, _| match path {
        p if p.contains("/plans") => (200, stub::PLANS.to_owned()),
        p if p.ends_with("/sims/search") => (200, found.clone()),
        _ => (404, stub::error("notFound", "not_found")),
    })
}

#[test]
fn output_to_a_directory_fails_before_any_request() {
    let stub = counting_stub();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &iccid_batch(64, 1)),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();

    let out = run_against(dir.path(), &stub.url, &["-o", "out"])
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    assert_eq!(stub.requests(), 0);
}

#[test]
fn output_in_a_place_that_cannot_be_written_fails_before_any_request() {
    let stub = counting_stub();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &iccid_batch(64, 1)),
    )
    .unwrap();

    let out = run_against(dir.path(), &stub.url, &["-o", "missing/r.csv"])
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    assert_eq!(stub.requests(), 0);
}

#[test]
fn a_finished_run_is_not_overwritten_without_resume_or_force() {
    let sims = iccid_batch(65, 4);
    let world = World::with_stock(&sims);
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let out = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = std::fs::read_to_string(world.path("r.csv")).unwrap();
    let requests = world.counter("requestsTotal");

    let again = world.run(&["m.csv", "-o", "r.csv", "--user", &user]);

    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    assert_eq!(world.counter("requestsTotal"), requests, "nothing was sent");
    assert_eq!(
        std::fs::read_to_string(world.path("r.csv")).unwrap(),
        before
    );

    let forced = world.run(&["m.csv", "-o", "r.csv", "--user", &user, "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let lines = results(&world.path("r.csv"));
    assert!(
        lines.iter().all(|l| l.outcome == "already_onboarded"),
        "{lines:?}"
    );
}

#[test]
fn a_dry_run_result_file_is_replaced_by_the_real_run() {
    let sims = iccid_batch(66, 2);
    let world = World::with_stock(&sims);
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let dry = world.run(&["m.csv", "--user", &user, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));

    let real = world.run(&["m.csv", "--user", &user]);

    assert_eq!(real.status.code(), Some(0), "{}", stderr(&real));
    let lines = results(&world.path("m.results.csv"));
    assert!(lines.iter().all(|l| l.outcome == "onboarded"), "{lines:?}");
}

#[test]
fn a_file_that_is_not_results_is_not_overwritten() {
    let sims = iccid_batch(67, 1);
    let world = World::with_stock(&sims);
    world.write("m.csv", &manifest("iccid", &sims));
    world.write("notes.txt", "my notes\n");

    let out = world.run(&["m.csv", "-o", "notes.txt", "--user", "usr_1"]);

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a simboard result file"));
    assert_eq!(
        std::fs::read_to_string(world.path("notes.txt")).unwrap(),
        "my notes\n"
    );
}

#[cfg(unix)]
#[test]
fn results_to_a_reader_that_went_away_stop_the_run_like_ctrl_c() {
    let sims = iccid_batch(68, 400);
    let world = World::start(EmulatorConfig {
        latency: Duration::from_millis(10),
        ..config(&sims)
    });
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let mut child = world
        .command(&["m.csv", "-o", "-", "--user", &user, "--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // `| head -1`: the header line, then the reader goes away.
    let mut header = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut header)
        .unwrap();
    assert!(header.starts_with("line,iccid"), "{header}");
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("standard output"), "{}", stderr(&out));
    let created = world.counter("subscriptionsCreated");
    assert!(
        created < 40,
        "{created} subscriptions were created for rows nobody could read"
    );
}

#[test]
fn the_quick_start_can_be_run_again_over_its_own_sandbox_results() {
    let work = Workdir::new();
    work.write("clean.csv", std::fs::read(sample("clean.csv")).unwrap());

    for attempt in ["first", "second"] {
        let out = work.simboard(&["run", "clean.csv", "--sandbox"]);
        assert_eq!(out.status.code(), Some(0), "{attempt}: {}", stderr(&out));
        let lines = results(&work.path("clean.results.csv"));
        assert_eq!(lines.len(), 12, "{attempt}");
        assert!(lines.iter().all(|l| l.outcome == "onboarded"), "{attempt}");
    }

    // A file that is not results stays safe in the sandbox too.
    work.write("notes.csv", "not,results\n1,2\n");
    let out = work.simboard(&["run", "clean.csv", "--sandbox", "-o", "notes.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a simboard result file"));
    let kept = std::fs::read_to_string(work.path("notes.csv")).unwrap();
    assert_eq!(kept, "not,results\n1,2\n");
}

#[test]
fn an_exported_project_does_not_conflict_with_the_sandbox() {
    let work = Workdir::new();
    work.write("m.csv", manifest("iccid", &iccid_batch(69, 2)));

    let out = work
        .command(&["run", "m.csv", "--sandbox", "--user", "usr_1"])
        .env("GIGS_PROJECT", "my-project")
        .env("GIGS_API_URL", "https://api.gigs.com")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(work.path("m.results.csv").exists());

    let explicit = work.simboard(&["run", "m.csv", "--sandbox", "--project", "p", "--force"]);
    assert_eq!(explicit.status.code(), Some(2), "{}", stderr(&explicit));
    assert!(
        stderr(&explicit).contains("--project"),
        "{}",
        stderr(&explicit)
    );
}

#[test]
fn two_columns_that_mean_the_email_are_refused_before_any_request() {
    let stub = counting_stub();
    let dir = tempfile::tempdir().unwrap();
    let iccid = iccid_batch(64, 1).remove(0);
    std::fs::write(
        dir.path().join("m.csv"),
        format!("iccid,email,E-Mail\n{iccid},a@x.example,b@x.example\n"),
    )
    .unwrap();

    let out = run_against(dir.path(), &stub.url, &["-o", "r.csv"])
        .output()
        .unwrap();

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"email\"") && err.contains("\"E-Mail\""),
        "{err}"
    );
    assert_eq!(stub.requests(), 0);
}

#[test]
fn two_iccid_columns_are_refused() {
    let sims = iccid_batch(70, 1);
    let world = World::with_stock(&sims);
    world.write(
        "m.csv",
        &format!("ICCID,iccid number\n{},{}\n", sims[0], sims[0]),
    );

    let out = world.run(&["m.csv", "--user", "usr_1"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the ICCID") && err.contains("iccid number"),
        "{err}"
    );
    assert_eq!(world.counter("requestsTotal"), 0);
}

#[test]
fn a_password_in_the_api_url_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        manifest("iccid", &iccid_batch(71, 1)),
    )
    .unwrap();
    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("http://me:s3cret-pw@127.0.0.1:{port}");
    let not_a_url = "http://me:s3cret-pw@[bad";

    for url in [unreachable.as_str(), not_a_url] {
        let out = run_against(
            dir.path(),
            url,
            &["-o", "r.csv", "-v", "--max-retries", "0"],
        )
        .output()
        .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("s3cret-pw"), "{err}");
    }

    let stub = counting_stub();
    let with_password = stub.url.replace("http://", "http://me:s3cret-pw@");
    let out = run_against(dir.path(), &with_password, &["-o", "r.csv", "-v"])
        .output()
        .unwrap();
    assert!(stub.requests() > 0);
    assert!(!stderr(&out).contains("s3cret-pw"), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("r.csv")).unwrap_or_default();
    assert!(!written.contains("s3cret-pw"));
}

#[test]
fn rows_onboarded_after_standard_output_closed_are_named_on_stderr() {
    let sims = iccid_batch(96, 60);
    let world = World::start(EmulatorConfig {
        latency: Duration::from_millis(10),
        ..config(&sims)
    });
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let mut child = world
        .command(&["m.csv", "-o", "-", "--user", &user, "--concurrency", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The reader takes the header line alone, then goes away.
    let header = "line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id\n";
    let mut got = vec![0; header.len()];
    let mut stdout = child.stdout.take().unwrap();
    std::io::Read::read_exact(&mut stdout, &mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), header);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");

    // Every subscription made is in a row that was written (the message
    // counts them), or named on stderr: none appears nowhere.
    let written: usize = err
        .split(" result rows had already been written")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of written rows: {err}"));
    let state = world.state();
    let subs: Vec<&str> = state["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let named = subs.iter().filter(|id| err.contains(*id)).count();
    assert!(named >= 1, "no onboarded row is named: {err}");
    assert!(
        subs.len() - named <= written,
        "{} subscriptions, {named} named, {written} written: {err}",
        subs.len()
    );
}

#[test]
fn a_closed_stderr_neither_crashes_a_verbose_run_nor_loses_its_results() {
    // `simboard run ... 2>&1 | head`, or a job runner that closed stderr:
    // writing the log or the summary fails, which must not stop the run.
    let sims = iccid_batch(98, 12);
    let world = World::with_stock(&sims);
    let user = world.user("a@x.example");
    world.write("m.csv", &manifest("iccid", &sims));
    let mut child = world
        .command(&["m.csv", "-o", "r.csv", "--user", &user, "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(0), "{status:?}");
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|l| l.outcome == "onboarded"), "{lines:#?}");
}
