//! Test support shared by every integration test: a temp dir that runs the
//! real binary ([`Workdir`]), an emulator of the Gigs API started for one test
//! alone on a free port and spoken to over plain HTTP ([`Api`]), both together
//! for `simboard run` ([`World`]), the result CSV reader, and ICCID makers.
//! The emulator's state is read from its test-only `GET /_emulator/state` as
//! plain JSON: the tests share no types with it, nor with the crate's client.
//! [`stub`] is a scripted server for answers the emulator never gives;
//! [`proxy`] sits in front of the emulator and rewrites some of its answers.

#![allow(dead_code)]

pub mod proxy;
pub mod stub;

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use simboard::emulator::{Emulator, EmulatorConfig};

/// A temp dir of one test, in which the real binary runs.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `simboard <args>` in this dir, with no Gigs settings from the
    /// environment of the test run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
        cmd.current_dir(self.dir.path())
            .env_remove("GIGS_TOKEN")
            .env_remove("GIGS_PROJECT")
            .env_remove("GIGS_API_URL")
            .args(args);
        cmd
    }

    pub fn simboard(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// A file of `samples/`, as a path argument.
pub fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The world of a `simboard run` test: a temp dir and an emulator of its own.
/// It derefs to the emulator's [`Api`] to arrange and inspect the test.
pub struct World {
    pub work: Workdir,
    pub api: Api,
    pub url: String,
    pub token: String,
    pub project: String,
}

impl Deref for World {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// One row of a result CSV.
#[derive(Clone, Debug)]
pub struct Line {
    pub line: u64,
    pub iccid: String,
    pub outcome: String,
    pub reason: String,
    pub message: String,
    pub sim_id: String,
    pub plan_id: String,
    pub user_id: String,
    pub subscription_id: String,
    pub extra: Vec<String>,
}

/// `n` valid p4-style ICCIDs of the batch `batch` (20 digits with a Luhn
/// check digit), distinct for distinct `(batch, i)`.
pub fn iccid_batch(batch: u32, n: usize) -> Vec<String> {
    let first = u64::from(batch) * 100_000_000;
    (0..n as u64).map(|i| iccid(first + i)).collect()
}

/// An emulator with these SIMs in stock and no latency, faults or limit.
pub fn config(stock: &[String]) -> EmulatorConfig {
    EmulatorConfig {
        inventory_iccids: stock.to_vec(),
        latency: Duration::ZERO,
        seed: 1,
        ..Default::default()
    }
}

/// The `--resolve` mode the outcome suite runs in: `run_outcomes_snapshot`
/// and `run_outcomes_search` include the whole suite (`run_outcomes.rs`) as
/// their modules `snapshot_mode` and `search_mode` (so do
/// `run_fidelity_snapshot` and `run_fidelity_search` with `run_fidelity.rs`,
/// and
/// `run_outcomes_snapshot_distrust` as `snapshot_mode_distrustful`), and
/// every story must end the same in each; elsewhere, the default (`auto`).
pub fn resolve_mode() -> &'static str {
    let path = module_path!();
    if path.contains("::snapshot_mode") {
        "snapshot"
    } else if path.contains("::search_mode::") {
        "search"
    } else {
        "auto"
    }
}

/// True in the test binary `run_outcomes_distrust`, which includes the whole
/// outcome suite (`run_outcomes.rs`) as its module `distrustful`: there every
/// world's emulator ignores its list filters, serves one item per page and
/// answers `invalid` with 400, and every story must end exactly as against a
/// faithful emulator.
pub fn distrustful() -> bool {
    // `snapshot_mode_distrustful` (run_outcomes_snapshot_distrust) too.
    module_path!().contains("distrustful::")
}

impl World {
    pub fn start(mut config: EmulatorConfig) -> World {
        if distrustful() {
            config.ignore_filters = true;
            config.page_cap = Some(1);
            config.invalid_status = 400;
        }
        let api = Api::start(config);
        World {
            url: api.emulator.url().to_string(),
            token: api.emulator.token().to_string(),
            project: api.emulator.project().to_string(),
            api,
            work: Workdir::new(),
        }
    }

    pub fn with_stock(stock: &[String]) -> World {
        World::start(config(stock))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        self.work.write(name, text)
    }

    /// `simboard run` against this world's emulator, with its token.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.work.command(&["run"]);
        cmd.env("GIGS_TOKEN", &self.token).args(args).args([
            "--api-url",
            &self.url,
            "--project",
            &self.project,
        ]);
        if resolve_mode() != "auto" {
            cmd.args(["--resolve", resolve_mode()]);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A call to the emulated Gigs API, to arrange a test.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (_, answer) = match method {
            "GET" => self.api.get(path),
            _ => self.api.post(path, body.unwrap_or(json!({}))),
        };
        answer
    }

    /// Every plan of the catalogue the API lists (the available ones).
    pub fn plans(&self) -> Vec<Value> {
        self.call("GET", "/plans?limit=200", None)["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every plan the emulator holds, archived ones included.
    pub fn all_plans(&self) -> Vec<Value> {
        self.state()["plans"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The id of the first plan (of all) that satisfies `pick`.
    pub fn plan_where(&self, what: &str, pick: impl Fn(&Value) -> bool) -> String {
        self.all_plans()
            .into_iter()
            .find(|p| pick(p))
            .unwrap_or_else(|| panic!("the catalogue has no {what}: {:#?}", self.all_plans()))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Subscribes a SIM (this order: plan, SIM, user) and answers the id.
    pub fn subscribe(&self, plan: &str, sim: &str, user: &str) -> String {
        let answer = self.api.subscribe(plan, user, sim);
        assert_eq!(answer.0, 201, "{}", answer.1);
        id(&answer.1)
    }

    /// How many live subscriptions each SIM id has.
    pub fn subscriptions_per_sim(&self) -> HashMap<String, usize> {
        let mut per_sim = HashMap::new();
        for sub in self.state()["subscriptions"].as_array().unwrap() {
            if sub["status"] == "ended" {
                continue;
            }
            let sim = match &sub["sim"] {
                Value::String(id) => id.clone(),
                other => other["id"].as_str().unwrap_or_default().to_owned(),
            };
            *per_sim.entry(sim).or_default() += 1;
        }
        per_sim
    }
}

/// `p4` plans for pSIMs that are available and need no address.
pub fn plain_p4_psim(plan: &Value) -> bool {
    plan["provider"] == "p4"
        && plan["status"] == "available"
        && has(plan, "simTypes", "pSIM")
        && requirement(plan, "address") == "none"
}

pub fn has(plan: &Value, list: &str, item: &str) -> bool {
    plan[list]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v == item))
}

/// A plan's requirement (`none` when absent), dotted or nested.
pub fn requirement<'a>(plan: &'a Value, path: &str) -> &'a str {
    let reqs = &plan["requirements"];
    let value = match path.split_once('.') {
        Some((head, tail)) if reqs.get(path).is_none() => &reqs[head][tail],
        _ => &reqs[path],
    };
    value.as_str().unwrap_or("none")
}

/// The columns every result CSV opens with, as the docs list them.
pub const FIXED_COLUMNS: [&str; 9] = [
    "line",
    "iccid",
    "outcome",
    "reason",
    "message",
    "sim_id",
    "plan_id",
    "user_id",
    "subscription_id",
];

/// Reads a result CSV and checks the laws every one obeys: the fixed
/// columns, and each manifest line exactly once, in order.
pub fn results(path: &Path) -> Vec<Line> {
    results_with_headers(path).1
}

/// [`results`], and the header row.
pub fn results_with_headers(path: &Path) -> (Vec<String>, Vec<Line>) {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers[..9], FIXED_COLUMNS);
    let lines: Vec<Line> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Line {
                line: r[0].parse().unwrap(),
                iccid: r[1].to_owned(),
                outcome: r[2].to_owned(),
                reason: r[3].to_owned(),
                message: r[4].to_owned(),
                sim_id: r[5].to_owned(),
                plan_id: r[6].to_owned(),
                user_id: r[7].to_owned(),
                subscription_id: r[8].to_owned(),
                extra: r.iter().skip(9).map(str::to_owned).collect(),
            }
        })
        .collect();
    for pair in lines.windows(2) {
        assert!(
            pair[0].line < pair[1].line,
            "lines out of order or repeated: {} then {}",
            pair[0].line,
            pair[1].line
        );
    }
    (headers, lines)
}

/// The line `n` of the results.
pub fn line(lines: &[Line], n: u64) -> &Line {
    lines
        .iter()
        .find(|l| l.line == n)
        .unwrap_or_else(|| panic!("no result for line {n}"))
}

/// Asserts that line `n` failed with `reason`, and returns its message.
#[track_caller]
pub fn failed(lines: &[Line], n: u64, reason: &str) -> String {
    let l = line(lines, n);
    assert_eq!(
        (l.outcome.as_str(), l.reason.as_str()),
        ("failed", reason),
        "line {n}: {}",
        l.message
    );
    l.message.clone()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A manifest: a header and one row per item, cells joined with commas.
pub fn manifest(header: &str, rows: &[String]) -> String {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

/// A started emulator and a keep-alive HTTP client for it.
pub struct Api {
    pub emulator: Emulator,
    pub http: Client,
}

impl Api {
    pub fn start(config: EmulatorConfig) -> Api {
        let emulator = Emulator::start(config).expect("the emulator starts");
        Api {
            emulator,
            http: client(),
        }
    }

    /// An emulator stocked with these ICCIDs as inactive pSIMs of `p4`.
    pub fn with_sims(iccids: &[String]) -> Api {
        Api::start(EmulatorConfig {
            inventory_iccids: iccids.to_vec(),
            ..EmulatorConfig::default()
        })
    }

    /// `/projects/{project}` + `path`, as a full URL.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/projects/{}{path}",
            self.emulator.url(),
            self.emulator.project()
        )
    }

    pub fn get_req(&self, path: &str) -> RequestBuilder {
        self.http
            .get(self.url(path))
            .bearer_auth(self.emulator.token())
    }

    pub fn post_req(&self, path: &str, body: &Value) -> RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(self.emulator.token())
            .json(body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        read(self.get_req(path).send().expect("the GET is answered"))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        read(
            self.post_req(path, &body)
                .send()
                .expect("the POST is answered"),
        )
    }

    /// `GET /_emulator/state`, with no token.
    pub fn state(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/_emulator/state", self.emulator.url()))
            .send()
            .expect("the state route answers");
        let (status, body) = read(response);
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.state()["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name}"))
    }

    /// Creates a user and answers its id.
    pub fn user(&self, email: &str) -> String {
        let (status, body) = self.post("/users", json!({ "email": email }));
        assert_eq!(status, 201, "{body}");
        id(&body)
    }

    /// The id of the stocked SIM with this ICCID.
    pub fn sim_id(&self, iccid: &str) -> String {
        let (status, body) = self.post("/sims/search", json!({ "iccid": iccid }));
        assert_eq!(status, 200, "{body}");
        id(&body["items"][0])
    }

    pub fn subscribe(&self, plan: &str, user: &str, sim: &str) -> (u16, Value) {
        self.post(
            "/subscriptions",
            json!({ "plan": plan, "user": user, "sim": sim }),
        )
    }
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

pub fn read(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}

pub fn id(object: &Value) -> String {
    object["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {object}"))
        .to_owned()
}

/// Asserts a Gigs error body with this status, type and (maybe) code.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16, kind: &str, code: Option<&str>) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["object"], "error", "{body}");
    assert_eq!(body["type"], kind, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    match code {
        Some(code) => assert_eq!(body["code"], code, "{body}"),
        None => assert!(body.get("code").is_none(), "{body}"),
    }
}

/// `n` distinct valid 20-digit ICCIDs (Luhn check digit included).
pub fn iccids(n: usize) -> Vec<String> {
    (0..n).map(|i| iccid(8_000_000 + i as u64)).collect()
}

/// A valid 20-digit ICCID with this serial.
pub fn iccid(serial: u64) -> String {
    let payload = format!("8988307{serial:012}");
    let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
    format!("{payload}{check}")
}

/// A valid 19-digit ICCID with this serial.
pub fn iccid19(serial: u64) -> String {
    let payload = format!("898830{serial:012}");
    let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
    format!("{payload}{check}")
}

/// The ids of a list answer's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(id)
        .collect()
}
