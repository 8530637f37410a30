//! A scripted HTTP server for the answers the emulator cannot be made to
//! give: bodies that are not JSON, statuses the API never sends. It speaks
//! just enough HTTP/1.1: one request per connection, answered by a closure
//! from the method, the path and the request's rank, then closed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Stub {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
}

type Script = dyn Fn(&str, &str, usize) -> (u16, String) + Send + Sync;

impl Stub {
    pub fn start(
        script: impl Fn(&str, &str, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&requests);
        let script: Arc<Script> = Arc::new(script);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (count, script) = (Arc::clone(&count), Arc::clone(&script));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let mut parts = first.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let rank = count.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = script(method, path, rank);
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = reader.get_mut().write_all(answer.as_bytes());
                });
            }
        });
        Stub { url, requests }
    }

    /// `simboard run m.csv -o r.csv` in `dir` against this server, with a
    /// token and a project, and `args` after.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_simboard"))
            .current_dir(dir)
            .env("GIGS_TOKEN", "sk_stub")
            .args(["run", "m.csv", "-o", "r.csv"])
            .args(["--project", "p", "--api-url", &self.url])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// One p4 pSIM plan, as the plan list answers it.
pub const PLANS: &str = r#"{"object":"list","items":[{"object":"plan","id":"pln_1","name":"One","provider":"p4","simTypes":["pSIM"],"status":"available","requirements":{"address":"none"}}],"moreItemsAfter":null,"moreItemsBefore":null}"#;

/// The answer of a SIM search that finds one p4 pSIM with this ICCID.
pub fn sim(id: &str, iccid: &str, status: &str) -> String {
    list(&[sim_object(id, iccid, status)])
}

/// A p4 pSIM.
pub fn sim_object(id: &str, iccid: &str, status: &str) -> String {
    format!(
        r#"{{"object":"sim","id":"{id}","iccid":"{iccid}","type":"pSIM","provider":"p4","status":"{status}"}}"#
    )
}

/// A subscription of `pln_1` for `usr_1` on `sim`, in this status.
pub fn subscription(id: &str, sim: &str, status: &str) -> String {
    format!(
        r#"{{"object":"subscription","id":"{id}","status":"{status}","plan":{{"object":"plan","id":"pln_1"}},"sim":{{"object":"sim","id":"{sim}"}},"user":{{"object":"user","id":"usr_1"}}}}"#
    )
}

/// A list answer holding these objects.
pub fn list(items: &[String]) -> String {
    format!(
        r#"{{"object":"list","items":[{}],"moreItemsAfter":null,"moreItemsBefore":null}}"#,
        items.join(",")
    )
}

/// A Gigs error body.
pub fn error(kind: &str, code: &str) -> String {
    format!(r#"{{"object":"error","type":"{kind}","code":"{code}","message":"{code}"}}"#)
}
