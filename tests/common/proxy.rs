//! A scripted HTTP/1.1 proxy in front of the emulator, for the answers a
//! real network or a misbehaving API gives and the emulator never does: 429
//! storms, `Retry-After: 999999`, bodies that never end, huge messages,
//! error objects with status 200, lists where an object belongs, redirects.
//!
//! Each request gets one thread and one connection (answered with
//! `Connection: close`). The script sees the method, the path and the
//! request's rank among those of its path, and either lets the request
//! through to the emulator (whose answer it may replace) or answers it
//! itself. Storms are counted in requests, never timed, so a test never
//! sleeps to get its shape.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the proxy saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The path and query, as sent.
    pub path: String,
    /// How many requests to a path containing the same route came before,
    /// counted per [`route`] of the path.
    pub rank: usize,
    /// When the request arrived.
    pub at: std::time::Instant,
}

/// What the proxy does with a request.
pub enum Act {
    /// Forward it to the emulator and pass its answer back.
    Forward,
    /// Forward it, then answer this instead of the emulator's answer.
    ForwardThenAnswer(Answer),
    /// Answer this without forwarding.
    Answer(Answer),
    /// Answer 200 with a body that starts like JSON and never ends.
    Endless,
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Act {
        Act::Answer(Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        })
    }

    /// A 429 of the Gigs API, with `Retry-After` when `retry_after` is set.
    pub fn too_many(retry_after: Option<&str>) -> Act {
        Act::Answer(Answer {
            status: 429,
            headers: retry_after
                .map(|v| vec![("Retry-After".to_owned(), v.to_owned())])
                .unwrap_or_default(),
            body: br#"{"object":"error","type":"rateLimited","code":"tooManyRequests","message":"Too many requests."}"#.to_vec(),
        })
    }
}

type Script = dyn Fn(&Seen) -> Act + Send + Sync;

pub struct Proxy {
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

/// The route of a path: its first segment after the project, without ids or
/// query (`/projects/p/sims/search?x` → `sims/search`, `/projects/p/plans`
/// → `plans`, `/projects/p/users/usr_1` → `users`).
pub fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut parts = path.trim_start_matches('/').split('/');
    if parts.next() == Some("projects") {
        parts.next();
    }
    let first = parts.next().unwrap_or("");
    match parts.next() {
        Some("search") => format!("{first}/search"),
        Some(_) if first == "sims" => "sims/id".to_owned(),
        _ => first.to_owned(),
    }
}

impl Proxy {
    /// A proxy on 127.0.0.1:0 in front of `upstream` (a base URL).
    pub fn start(upstream: &str, script: impl Fn(&Seen) -> Act + Send + Sync + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let ranks: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let upstream = upstream.trim_end_matches('/').to_owned();
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, ranks, script) =
                    (Arc::clone(&shared), Arc::clone(&ranks), Arc::clone(&script));
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(stream, &upstream, &log, &ranks, &*script));
            }
        });
        Proxy { url, log }
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests went to `route`.
    pub fn count(&self, route_name: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| route(&s.path) == route_name)
            .count()
    }
}

/// One request read off a connection.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn serve(
    stream: TcpStream,
    upstream: &str,
    log: &Mutex<Vec<Seen>>,
    ranks: &Mutex<HashMap<String, usize>>,
    script: &Script,
) {
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let rank = {
        let mut ranks = ranks.lock().unwrap();
        let n = ranks.entry(route(&request.path)).or_default();
        *n += 1;
        *n - 1
    };
    let seen = Seen {
        method: request.method.clone(),
        path: request.path.clone(),
        rank,
        at: std::time::Instant::now(),
    };
    log.lock().unwrap().push(seen.clone());
    let mut stream = reader.into_inner();
    let answer = match script(&seen) {
        Act::Forward => forward(upstream, &request),
        Act::ForwardThenAnswer(answer) => {
            forward(upstream, &request);
            answer
        }
        Act::Answer(answer) => answer,
        Act::Endless => return endless(&mut stream),
    };
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&answer.body);
}

/// Sends the request to the emulator and returns its answer.
fn forward(upstream: &str, request: &Request) -> Answer {
    let client = reqwest::blocking::Client::new();
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut outgoing = client
        .request(method, format!("{upstream}{}", request.path))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "authorization" | "content-type" | "idempotency-key"
        ) {
            outgoing = outgoing.header(name.as_str(), value.as_str());
        }
    }
    match outgoing.send() {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().eq_ignore_ascii_case("retry-after"))
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
            Answer {
                status,
                headers,
                body,
            }
        }
        Err(err) => Answer {
            status: 599,
            headers: Vec::new(),
            body: format!("proxy could not reach the emulator: {err}").into_bytes(),
        },
    }
}

/// A 200 whose body never ends: JSON that opens a string and keeps going,
/// until the client hangs up.
fn endless(stream: &mut TcpStream) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    if stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(br#"{"object":"list","items":[{"object":"sim","id":""#))
        .is_err()
    {
        return;
    }
    let chunk = vec![b'x'; 64 * 1024];
    while stream.write_all(&chunk).is_ok() {}
}
