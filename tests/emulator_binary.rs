//! `simboard emulator` as a user runs it: the real binary, its first lines on
//! stdout, a request to the address it printed, then Ctrl-C's stand-in (kill).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{client, iccid, read};
use serde_json::json;

/// Kills the emulator when the test ends, whether it passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .arg("emulator")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("simboard starts");
    let stdout = BufReader::new(child.stdout.take().expect("a stdout pipe"));
    (Running(child), stdout)
}

fn line(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line of stdout");
    line.trim_end().to_owned()
}

#[test]
fn the_binary_prints_where_it_listens_and_serves_there() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("inventory.csv");
    let mut file = std::fs::File::create(&manifest).unwrap();
    writeln!(file, "ICCID\n{}\n{}\nnot-one", iccid(1), iccid(2)).unwrap();
    drop(file);

    let (_running, mut stdout) = start(&[
        "--port",
        "0",
        "--token",
        "sk_cli",
        "--project",
        "acme",
        "--provider",
        "p9",
        "--inventory",
        manifest.to_str().unwrap(),
    ]);
    let first = line(&mut stdout);
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"));
    assert_eq!(line(&mut stdout), "token: sk_cli");
    assert_eq!(line(&mut stdout), "project: acme");
    let inventory = line(&mut stdout);
    assert!(inventory.contains("2 pSIMs"), "{inventory}");
    assert!(inventory.contains("1 rows skipped"), "{inventory}");

    let (status, found) = read(
        client()
            .post(format!("{url}/projects/acme/sims/search"))
            .bearer_auth("sk_cli")
            .json(&json!({"iccid": iccid(2)}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(found["items"][0]["provider"], "p9");
}

#[test]
fn without_a_token_flag_the_binary_prints_the_default_token() {
    let (_running, mut stdout) = start(&["--port", "0"]);
    let url = line(&mut stdout).replace("listening on ", "");
    let token = line(&mut stdout).replace("token: ", "");
    assert!(!token.is_empty());
    assert_eq!(line(&mut stdout), "project: emulator");
    let response = client()
        .get(format!("{url}/projects/emulator/plans"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn the_binary_generates_an_inventory_and_takes_the_distrust_knobs() {
    let (_running, mut stdout) = start(&[
        "--port",
        "0",
        "--inventory",
        "5",
        "--page-cap",
        "2",
        "--ignore-filters",
        "--invalid-status",
        "400",
    ]);
    let url = line(&mut stdout).replace("listening on ", "");
    let token = line(&mut stdout).replace("token: ", "");
    let _project = line(&mut stdout);
    let inventory = line(&mut stdout);
    assert!(inventory.contains("5 pSIMs"), "{inventory}");

    let get = |path: &str| {
        read(
            client()
                .get(format!("{url}/projects/emulator{path}"))
                .bearer_auth(&token)
                .send()
                .unwrap(),
        )
    };
    // Two items a page, whatever the limit, and the status filter ignored.
    let (status, page) = get("/sims?limit=200&status=retired");
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert!(items.iter().all(|s| s["status"] == "inactive"), "{page}");
    assert!(page["moreItemsAfter"].is_string(), "{page}");
    // And `invalid` comes as 400.
    let (status, error) = get("/sims?limit=0");
    assert_eq!(
        (status, &error["type"]),
        (400, &json!("invalid")),
        "{error}"
    );
}

#[test]
fn a_page_cap_of_zero_is_refused_by_the_binary() {
    let output = Command::new(env!("CARGO_BIN_EXE_simboard"))
        .args(["emulator", "--page-cap", "0"])
        .output()
        .expect("simboard runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("page-cap"));
}
