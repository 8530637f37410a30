//! Helpers for the emulator's conformance tests: start an emulator on port 0
//! for one test, and talk to it over real HTTP with hand-written requests.
//!
//! Nothing here uses the crate's API client: the point of these tests is to
//! pin the emulator to the reference on its own.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use simboard::emulator::{Emulator, EmulatorConfig};

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
