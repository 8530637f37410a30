//! The world of a `simboard run` test: a temp dir, an emulator of the Gigs
//! API started for this test alone (in-process, on a free port), and the real
//! binary driven over HTTP. The emulator's state is read from its test-only
//! `GET /_emulator/state` as plain JSON: the tests share no types with it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use simboard::emulator::{Emulator, EmulatorConfig};

pub struct World {
    pub dir: tempfile::TempDir,
    pub emu: Emulator,
    pub url: String,
    pub token: String,
    pub project: String,
    http: reqwest::blocking::Client,
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

/// `n` valid p4-style ICCIDs (19 digits and a Luhn check digit), distinct
/// for distinct `(batch, i)`.
pub fn iccids(batch: u32, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let payload = format!("8988307{batch:04}{i:08}");
            let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
            format!("{payload}{check}")
        })
        .collect()
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

/// True in the test binary `run_outcomes_distrust`, which includes the whole
/// outcome suite (`run_outcomes.rs`) as its module `distrustful`: there every
/// emulator ignores its list filters, serves one item per page and answers
/// `invalid` with 400, and every story must end exactly as against a
/// faithful emulator.
pub fn distrustful() -> bool {
    module_path!().contains("::distrustful::")
}

impl World {
    pub fn start(mut config: EmulatorConfig) -> World {
        if distrustful() {
            config.ignore_filters = true;
            config.page_cap = Some(1);
            config.invalid_status = 400;
        }
        let emu = Emulator::start(config).expect("the emulator starts");
        World {
            url: emu.url().to_string(),
            token: emu.token().to_string(),
            project: emu.project().to_string(),
            emu,
            dir: tempfile::tempdir().unwrap(),
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn with_stock(stock: &[String]) -> World {
        World::start(config(stock))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `simboard run` against this world's emulator, with its token.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_simboard"));
        cmd.current_dir(self.dir.path())
            .env("GIGS_TOKEN", &self.token)
            .env_remove("GIGS_PROJECT")
            .env_remove("GIGS_API_URL")
            .arg("run")
            .args(args)
            .args(["--api-url", &self.url, "--project", &self.project]);
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

    /// The emulator's whole state.
    pub fn state(&self) -> Value {
        self.http
            .get(format!("{}/_emulator/state", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.state()["counters"][name].as_u64().unwrap_or(0)
    }

    /// A call to the emulated Gigs API, to arrange a test.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/projects/{}{path}", self.url, self.project);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        req.bearer_auth(&self.token).send().unwrap().json().unwrap()
    }

    /// Every plan of the catalogue the API lists (the available ones).
    pub fn plans(&self) -> Vec<Value> {
        self.api("GET", "/plans?limit=200", None)["items"]
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

    pub fn sim_id(&self, iccid: &str) -> String {
        let found = self.api("POST", "/sims/search", Some(json!({ "iccid": iccid })));
        found["items"][0]["id"].as_str().unwrap().to_owned()
    }

    pub fn create_user(&self, email: &str) -> String {
        let user = self.api("POST", "/users", Some(json!({ "email": email })));
        user["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{user}"))
            .to_owned()
    }

    pub fn subscribe(&self, plan: &str, sim: &str, user: &str) -> String {
        let sub = self.api(
            "POST",
            "/subscriptions",
            Some(json!({ "plan": plan, "sim": sim, "user": user })),
        );
        sub["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{sub}"))
            .to_owned()
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

/// Reads a result CSV and checks the laws every one obeys: the fixed
/// columns, and each manifest line exactly once, in order.
pub fn results(path: &Path) -> Vec<Line> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        headers[..9],
        [
            "line",
            "iccid",
            "outcome",
            "reason",
            "message",
            "sim_id",
            "plan_id",
            "user_id",
            "subscription_id"
        ]
    );
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
    lines
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
