//! The HTTP client: every request to the Gigs API, and every answer, passes
//! through `Client::call`. That one function paces the request, sends it,
//! retries it when [`retry::decide`] says so, logs it under `-v` (method, path,
//! status, latency: never a header, never a body), and maps every non-2xx
//! answer to a typed [`Error`]. The endpoint methods below it are thin.
//!
//! No answer is trusted blindly. No redirect is followed (the Gigs API does
//! not redirect; a 307 must not carry a user's email to another host): a 3xx
//! is a protocol error naming its `Location`. A body is read up to
//! [`BODY_CAP`]. A 2xx must hold the `object` the endpoint answers with
//! ([`Expected`]), so that an error object sent with 200 is not read as an
//! empty list. Such answers are [`Error::Protocol`], retried like a 5xx and,
//! when retries run out, an `api_error` row that `--resume` runs again.
//! What the API says is cut to [`MESSAGE_LIMIT`] characters before it can
//! reach a result row.
//!
//! A 429 is "slow down", not "fail": it does not use up `--max-retries`; the
//! pacer holds every worker back, and the request waits as long as its
//! `--max-wait` deadline allows. A wait longer than 10 s is said on stderr
//! (the `notice` of [`ClientConfig`]) even without `-v`.
//!
//! A create sent without an `Idempotency-Key` is never re-sent blindly once
//! an attempt may have landed: `call` hands the error back
//! with a [`NextTry`], the caller looks for the create's effect, and only if
//! there is none sends it again by passing the `NextTry` back, so that the
//! retry budget and the backoff carry on where they stopped.
//!
//! Requests are blocking (the run is a pool of worker threads); one `Client`
//! is shared by all of them and keeps its connections alive.

use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::blocking::Response;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod pages;

pub use pages::{Cursor, MAX_PAGES, PAGE_LIMIT};

use super::pace::{self, Held, Pacer};
use super::retry::{self, Attempt, Decision, Policy, Resend, Spent, Transport};
use super::token::Token;
use super::types::{
    Address, ErrorBody, List, NewSubscription, NewUser, Plan, Sim, SimSearch, Subscription, User,
    UserAddress, UserSearch,
};

/// Where `-v` lines go (the run sends them above the progress bar).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything a [`Client`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://api.gigs.com`, or an emulator's address.
    pub base_url: String,
    pub project: String,
    pub token: Token,
    pub max_retries: u32,
    /// `--max-wait`: the longest one request may take, 429s and retries
    /// included.
    pub max_wait: Duration,
    /// `--rate`: a fixed cap in requests per second.
    pub rate: Option<f64>,
    /// Connections kept open: the number of workers.
    pub connections: usize,
    /// Where `-v` lines go; `None` without `-v`.
    pub log: Option<Log>,
    /// Where long waits are announced, with or without `-v`.
    pub notice: Option<Log>,
}

/// The API said no: a non-2xx answer, after any retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub method: Method,
    /// The path and query, without the host.
    pub path: String,
    pub status: u16,
    /// The error `type` (`invalid`, `notFound`, ...), or empty.
    pub kind: String,
    /// The error `code` (`simAlreadyUsed`, ...), or empty.
    pub code: String,
    pub message: String,
    pub attempts: u32,
    /// True when this or an earlier attempt may have reached the server and
    /// acted (it broke after sending, or got a 5xx), so this answer may be
    /// about the effect of that attempt, e.g. `simAlreadyUsed` after our own
    /// create.
    pub maybe_landed: bool,
    /// Set when a create stopped to be checked: see [`Error::next_try`].
    pub next_try: Option<NextTry>,
}

/// A create that stopped because an attempt may have landed, and that may be
/// sent again (after its wait) once the caller found no effect of it. It
/// carries the attempts spent, so the `--max-retries` budget is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextTry {
    attempts: u32,
    wait: Duration,
    deadline: Instant,
}

impl ApiError {
    /// A non-2xx answer, with what its error object says cut short.
    fn from_answer(
        method: Method,
        path: String,
        answer: &Answer,
        attempts: u32,
        maybe_landed: bool,
        next_try: Option<NextTry>,
    ) -> ApiError {
        let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
        ApiError {
            method,
            path,
            status: answer.status,
            kind: cut(&body.kind.unwrap_or_default(), 100),
            code: cut(&body.code.unwrap_or_default(), 100),
            message: match body.message {
                Some(message) => cut(&message, MESSAGE_LIMIT),
                None => snippet(&answer.body),
            },
            attempts,
            maybe_landed,
            next_try,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered HTTP {}",
            self.method, self.path, self.status
        )?;
        match (self.kind.is_empty(), self.code.is_empty()) {
            (false, false) => write!(f, " {}/{}", self.kind, self.code)?,
            (false, true) => write!(f, " {}", self.kind)?,
            (true, false) => write!(f, " {}", self.code)?,
            (true, true) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// Why a call did not return what was asked for.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No answer at all, after every retry.
    #[error("{method} {path}: no answer after {attempts} attempts: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
        attempts: u32,
        /// False only when no attempt ever left (every connection was refused).
        maybe_landed: bool,
        /// Set when a create stopped to be checked: see [`Error::next_try`].
        next_try: Option<NextTry>,
    },
    /// The run was interrupted while this call waited (a pause after a 429,
    /// a backoff): it gave up, and the row is left for `--resume`.
    #[error("{method} {path}: given up, the run was interrupted")]
    Interrupted { method: Method, path: String },
    /// An answer the Gigs API does not give (see `Reply::Protocol`), after
    /// every retry. It may follow a create that was made.
    #[error(
        "{method} {path}: protocol error: HTTP {status} with {message} (after {attempts} attempts)"
    )]
    Protocol {
        method: Method,
        path: String,
        status: u16,
        message: String,
        attempts: u32,
        /// Set when a create stopped to be checked: see [`Error::next_try`].
        next_try: Option<NextTry>,
    },
    /// The request would have to wait past its `--max-wait` deadline (a long
    /// `Retry-After`, a storm of 429s): it gave up without waiting.
    #[error("{method} {path}: given up: {what}, longer than --max-wait ({max_wait}) allows")]
    OutOfTime {
        method: Method,
        path: String,
        what: String,
        max_wait: String,
        attempts: u32,
        maybe_landed: bool,
    },
    /// A 2xx answer with the right `object` whose fields are not the JSON
    /// expected.
    #[error("{method} {path} answered HTTP {status} with an unexpected body: {message}")]
    Decode {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
}

impl Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            // A protocol error's status says nothing the API meant: an HTML
            // 404 from a proxy is not "not found".
            Error::Transport { .. }
            | Error::Interrupted { .. }
            | Error::Protocol { .. }
            | Error::OutOfTime { .. } => None,
        }
    }

    /// The error code (`simAlreadyUsed`, ...), if the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// True for 401 and 403: the token is not (or no longer) good. Such an
    /// error stops the whole run.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for the error type `invalid`, whether it came with 422 (Gigs'
    /// own client mocks) or 400 (a copy of the docs): both are the same no.
    pub fn is_invalid(&self) -> bool {
        match self {
            Error::Api(e) => matches!(e.status, 400 | 422) && e.kind == "invalid",
            _ => false,
        }
    }

    /// True when the request may have had its effect although no success
    /// came back: a create that must be checked before it is called failed.
    pub fn maybe_landed(&self) -> bool {
        match self {
            Error::Api(e) => e.maybe_landed,
            Error::Transport { maybe_landed, .. } => *maybe_landed,
            Error::Decode { .. } | Error::Protocol { .. } => true,
            Error::OutOfTime { maybe_landed, .. } => *maybe_landed,
            // It may have given up after an attempt that landed; `--resume`
            // checks, like any run, before it creates.
            Error::Interrupted { .. } => true,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted { .. })
    }

    /// For a create without an `Idempotency-Key` whose attempt may have
    /// landed, with retries left: check for its effect, and if there is none,
    /// pass this to the same create to send it again.
    pub fn next_try(&self) -> Option<NextTry> {
        match self {
            Error::Api(e) => e.next_try,
            Error::Transport { next_try, .. } | Error::Protocol { next_try, .. } => *next_try,
            Error::Decode { .. } | Error::Interrupted { .. } | Error::OutOfTime { .. } => None,
        }
    }
}

/// Counts of what was sent, for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every attempt sent, first tries and retries.
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Answers with status 429.
    pub refused: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub retries: u64,
    pub refused: u64,
}

/// The Gigs API client. Cheap to clone; clones share connections, the pacer
/// and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::blocking::Client,
    /// `{base_url}/projects/{project}`.
    root: String,
    /// The path part of `root`, for logs.
    root_path: String,
    auth: HeaderValue,
    policy: Policy,
    pacer: Pacer,
    max_wait: Duration,
    stats: Stats,
    log: Option<Log>,
    notice: Option<Log>,
    /// Set by [`Client::give_up_when`]: the run's interruption flag.
    interrupted: OnceLock<&'static AtomicBool>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("root", &redact_url(&self.inner.root))
            .finish_non_exhaustive()
    }
}

/// A request to send: method, path under the project, and an optional body.
struct Call<'a> {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    idempotency_key: Option<&'a str>,
    /// Whether an attempt that may have landed can be sent again blindly.
    resend: Resend,
    /// The continuation of a create that stopped to be checked.
    after: Option<NextTry>,
}

/// Why a [`Client`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("GIGS_TOKEN holds characters that cannot go in an HTTP header")]
    TokenNotAHeader,
    #[error("cannot start the HTTP client: {0}")]
    Http(reqwest::Error),
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, SetupError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| SetupError::TokenNotAHeader)?;
        // Keeps the value out of reqwest's own Debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("simboard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(config.connections.max(1))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SetupError::Http)?;
        // The API takes the token alone: credentials in the URL would make
        // reqwest send a second, Basic, Authorization header beside it.
        let base = without_userinfo(&config.base_url);
        let base = base.trim_end_matches('/');
        let root_path = format!("/projects/{}", encode_segment(&config.project));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                root: format!("{base}{root_path}"),
                root_path,
                auth,
                policy: Policy::new(config.max_retries),
                pacer: Pacer::new(config.rate),
                max_wait: config.max_wait.min(MAX_MAX_WAIT),
                stats: Stats::default(),
                log: config.log,
                notice: config.notice,
                interrupted: OnceLock::new(),
            }),
        })
    }

    pub fn counts(&self) -> Counts {
        let s = &self.inner.stats;
        Counts {
            requests: s.requests.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
        }
    }

    /// Makes every wait of this client (and its clones) give up, with
    /// [`Error::Interrupted`], soon after `flag` turns true: a pause after a
    /// 429 or a backoff can last up to an hour, which Ctrl-C must not wait
    /// for. The first flag set is kept.
    pub fn give_up_when(&self, flag: &'static AtomicBool) {
        let _ = self.inner.interrupted.set(flag);
    }

    fn is_interrupted(&self) -> bool {
        self.inner
            .interrupted
            .get()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// The pace learnt from 429s (or the cap), if any.
    pub fn pace(&self) -> Option<f64> {
        self.inner.pacer.learnt_rate()
    }

    /// Every plan the project lists (all pages). The API lists only
    /// available plans by default, a filter simboard does not rely on: each
    /// plan's status is checked where it is used.
    pub fn list_plans(&self) -> Result<Vec<Plan>, Error> {
        self.list_all(Method::GET, "/plans", None)
    }

    pub fn get_plan(&self, id: &str) -> Result<Plan, Error> {
        let path = format!("/plans/{}", encode_segment(id));
        let plan: Plan = self.get(path.clone())?;
        same_id(&plan.id, id, path)?;
        Ok(plan)
    }

    /// Every SIM a search for `iccid` answers, all pages; the caller keeps
    /// only the one whose ICCID is this one.
    pub fn search_sims(&self, iccid: &str) -> Result<Vec<Sim>, Error> {
        let body = encode_body(Method::POST, "/sims/search", &SimSearch { iccid })?;
        self.list_all(Method::POST, "/sims/search", Some(body))
    }

    /// The SIM's live subscriptions, in two asks: the `sim` filter alone
    /// (the API then lists `pending` and `active` ones), and with
    /// `status=initiated`, the live status that default leaves out. Never a
    /// comma list in `status`: unconfirmed, and a server that read one as a
    /// single unknown status would answer an empty list and make a held SIM
    /// look free. No filter is trusted: every page is read and only the items
    /// that name this SIM and are live are kept, once each.
    pub fn sim_subscriptions(&self, sim_id: &str) -> Result<Vec<Subscription>, Error> {
        let sim = encode_segment(sim_id);
        let mut subs: Vec<Subscription> = Vec::new();
        for path in [
            format!("/subscriptions?sim={sim}"),
            format!("/subscriptions?sim={sim}&status=initiated"),
        ] {
            subs.extend(self.list_all::<Subscription>(Method::GET, &path, None)?);
        }
        subs.retain(|s| s.sim_id() == sim_id && s.is_live());
        let mut seen = std::collections::HashSet::new();
        subs.retain(|s| seen.insert(s.id.clone()));
        Ok(subs)
    }

    /// Every user a search for `email` answers, all pages; the caller keeps
    /// only the one whose email is this one.
    pub fn search_users(&self, email: &str) -> Result<Vec<User>, Error> {
        let body = encode_body(Method::POST, "/users/search", &UserSearch { email })?;
        self.list_all(Method::POST, "/users/search", Some(body))
    }

    /// The addresses of `user` (all pages); an item that names another owner
    /// is dropped.
    pub fn list_addresses(&self, user: &str) -> Result<Vec<UserAddress>, Error> {
        let path = format!("/users/{}/addresses", encode_segment(user));
        let mut addresses: Vec<UserAddress> = self.list_all(Method::GET, &path, None)?;
        addresses.retain(|a| a.user.as_ref().map_or(true, |owner| owner.id() == user));
        Ok(addresses)
    }

    /// Creates one of `user`'s addresses; see [`Client::create_user`] for
    /// `key` and `after` (here the user's addresses are what to check).
    pub fn create_address(
        &self,
        user: &str,
        address: &Address,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<UserAddress, Error> {
        let path = format!("/users/{}/addresses", encode_segment(user));
        self.create(&path, address, key, after)
    }

    pub fn get_user(&self, id: &str) -> Result<User, Error> {
        let path = format!("/users/{}", encode_segment(id));
        let user: User = self.get(path.clone())?;
        same_id(&user.id, id, path)?;
        Ok(user)
    }

    /// Creates a user. Without an idempotency `key`, an attempt that may have
    /// landed is not re-sent: the error has a [`NextTry`] (see
    /// [`Error::next_try`]), to pass as `after` once the email is searched.
    pub fn create_user(
        &self,
        user: &NewUser<'_>,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<User, Error> {
        self.create("/users", user, key, after)
    }

    /// Creates a subscription; see [`Client::create_user`] for `key` and
    /// `after` (here the SIM's subscriptions are what to check).
    pub fn create_subscription(
        &self,
        sub: &NewSubscription<'_>,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<Subscription, Error> {
        self.create("/subscriptions", sub, key, after)
    }

    fn create<T: DeserializeOwned + Expected>(
        &self,
        path: &str,
        body: &impl Serialize,
        key: Option<&str>,
        after: Option<NextTry>,
    ) -> Result<T, Error> {
        let resend = match key {
            Some(_) => Resend::Safe,
            None => Resend::CheckFirst,
        };
        self.call(Call {
            idempotency_key: key,
            after,
            ..self.post_call(path, body, resend)?
        })
    }

    fn get<T: DeserializeOwned + Expected>(&self, path: String) -> Result<T, Error> {
        self.call(Call {
            method: Method::GET,
            path,
            body: None,
            idempotency_key: None,
            resend: Resend::Safe,
            after: None,
        })
    }

    fn post_call(
        &self,
        path: &str,
        body: &impl Serialize,
        resend: Resend,
    ) -> Result<Call<'static>, Error> {
        let body = encode_body(Method::POST, path, body)?;
        Ok(Call {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(body),
            idempotency_key: None,
            resend,
            after: None,
        })
    }

    /// The chokepoint: pace, send, retry, log, and map the answer. Each step
    /// is one of the functions below; this one only strings them together.
    fn call<T: DeserializeOwned + Expected>(&self, call: Call<'_>) -> Result<T, Error> {
        let mut tries = Tries::new(self, &call);
        if let Some(next) = call.after {
            self.wait(&call, &tries, next.wait)?;
        }
        loop {
            let sent = self.turn(&call, &tries)?;
            let reply = self.send(&call, &tries, T::OBJECT);
            let attempt = reply.attempt();
            let decision = self.decide(&call, &tries, &reply, sent);
            tries.maybe_landed |= retry::may_have_landed(attempt);
            match decision {
                Decision::RetryAfter(wait) => {
                    if matches!(attempt, Attempt::Answered { status: 429, .. }) {
                        // The pacer already holds everyone back.
                        tries.refusals += 1;
                    } else {
                        tries.retries += 1;
                        self.wait(&call, &tries, wait)?;
                    }
                }
                _ => return self.finish(&call, tries, reply, decision),
            }
        }
    }

    /// Waits for the pacer's slot, within the request's deadline.
    fn turn(&self, call: &Call<'_>, tries: &Tries) -> Result<Instant, Error> {
        let interrupted = || self.is_interrupted();
        match self.inner.pacer.acquire(Some(tries.deadline), &interrupted) {
            Ok(sent) => Ok(sent),
            Err(Held::Interrupted) => Err(tries.given_up(call)),
            Err(Held::PastDeadline(pause)) => Err(tries.out_of_time(
                call,
                self.inner.max_wait,
                format!(
                    "every request is held back for another {} after a 429",
                    describe_wait(pause)
                ),
            )),
        }
    }

    /// Sleeps before a retry (not after a 429: the pacer holds those back),
    /// saying so on stderr when the wait is long.
    fn wait(&self, call: &Call<'_>, tries: &Tries, wait: Duration) -> Result<(), Error> {
        if wait > pace::ANNOUNCE_WAIT {
            self.notice(&format!(
                "{} {}: waiting {} before trying again, as the API asked",
                call.method,
                tries.path,
                describe_wait(wait)
            ));
        }
        if pace::nap(wait, &|| self.is_interrupted()) {
            Ok(())
        } else {
            Err(tries.given_up(call))
        }
    }

    /// Sends one attempt and reads its answer, counted and logged.
    fn send(&self, call: &Call<'_>, tries: &Tries, expected: &'static str) -> Reply {
        let inner = &*self.inner;
        let started = Instant::now();
        let mut request = inner
            .http
            .request(call.method.clone(), &tries.url)
            .header(AUTHORIZATION, inner.auth.clone());
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let retries = tries.retries + tries.refusals;
        if retries > 0 {
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        let reply = match request.send() {
            Ok(response) => read_answer(response, expected),
            Err(err) => Reply::transport(&err),
        };
        self.log(
            &call.method,
            &tries.path,
            &reply,
            started.elapsed(),
            retries,
        );
        reply
    }

    /// Tells the pacer what the answer says of the limit, and decides.
    fn decide(&self, call: &Call<'_>, tries: &Tries, reply: &Reply, sent: Instant) -> Decision {
        let inner = &*self.inner;
        let attempt = reply.attempt();
        let spent = Spent {
            retries: tries.retries,
            refusals: tries.refusals,
            left: tries.deadline.saturating_duration_since(Instant::now()),
        };
        let decision = retry::decide(attempt, spent, call.resend, &inner.policy, fastrand::f64());
        match (attempt, decision) {
            (Attempt::Answered { status: 429, .. }, Decision::RetryAfter(wait))
            | (Attempt::Answered { status: 429, .. }, Decision::OutOfTime(wait)) => {
                inner.stats.refused.fetch_add(1, Ordering::Relaxed);
                // Every worker waits, even when this request gives up.
                if let Some(pause) = inner.pacer.refused(sent, wait) {
                    self.announce_pause(pause);
                }
            }
            (Attempt::Answered { status: 429, .. }, _) => {
                inner.stats.refused.fetch_add(1, Ordering::Relaxed);
            }
            (Attempt::Transport(_), _) => {}
            _ => inner.pacer.answered(),
        }
        decision
    }

    fn announce_pause(&self, pause: Duration) {
        let max_wait = self.inner.max_wait;
        let beyond = if pause > max_wait {
            format!(
                "; that is longer than --max-wait ({}), so requests give up instead of waiting",
                describe_wait(max_wait)
            )
        } else {
            String::new()
        };
        self.notice(&format!(
            "the API answered 429 (too many requests): every request waits {}{beyond}",
            describe_wait(pause)
        ));
    }

    /// The caller's answer: the decoded object, or the typed error.
    fn finish<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        tries: Tries,
        reply: Reply,
        decision: Decision,
    ) -> Result<T, Error> {
        let attempts = tries.retries + tries.refusals + 1;
        let next_try = match decision {
            Decision::Check(wait) => Some(NextTry {
                attempts: tries.retries + 1,
                wait,
                deadline: tries.deadline,
            }),
            _ => None,
        };
        if let Decision::OutOfTime(wait) = decision {
            let what = match reply {
                Reply::Answer(answer) => format!(
                    "the API answered HTTP {} and asked to wait {}",
                    answer.status,
                    describe_wait(wait)
                ),
                _ => format!("the next try would be in {}", describe_wait(wait)),
            };
            return Err(tries.out_of_time(call, self.inner.max_wait, what));
        }
        let method = call.method.clone();
        let path = tries.path;
        let maybe_landed = tries.maybe_landed;
        match reply {
            Reply::Answer(answer) if (200..300).contains(&answer.status) => {
                serde_json::from_slice(&answer.body).map_err(|err| Error::Decode {
                    method,
                    path,
                    status: answer.status,
                    message: cut(&err.to_string(), MESSAGE_LIMIT),
                })
            }
            Reply::Answer(answer) => Err(Error::Api(Box::new(ApiError::from_answer(
                method,
                path,
                &answer,
                attempts,
                maybe_landed,
                next_try,
            )))),
            Reply::Protocol { status, message } => Err(Error::Protocol {
                method,
                path,
                status,
                message,
                attempts,
                next_try,
            }),
            Reply::Transport { message, .. } => Err(Error::Transport {
                method,
                path,
                message,
                attempts,
                maybe_landed,
                next_try,
            }),
        }
    }

    /// Says something on stderr whatever `-v` says: long waits.
    fn notice(&self, line: &str) {
        if let Some(notice) = &self.inner.notice {
            notice(line);
        }
    }

    fn log(&self, method: &Method, path: &str, reply: &Reply, latency: Duration, retries: u32) {
        let Some(log) = &self.inner.log else { return };
        let what = match reply {
            Reply::Answer(answer) => answer.status.to_string(),
            Reply::Protocol { status, .. } => format!("{status} (protocol error)"),
            Reply::Transport {
                kind: Transport::Connect,
                ..
            } => "connection failed".to_owned(),
            Reply::Transport {
                kind: Transport::Timeout,
                ..
            } => "timed out".to_owned(),
            Reply::Transport {
                kind: Transport::Broken,
                ..
            } => "connection broken".to_owned(),
        };
        let retry = if retries > 0 {
            format!(" (retry {retries})")
        } else {
            String::new()
        };
        log(&format!(
            "{method} {path} {what} {} ms{retry}",
            latency.as_millis()
        ));
    }
}

/// What one request has spent, across its attempts.
struct Tries {
    url: String,
    /// The path and query with the project, without the host: for messages.
    path: String,
    /// Retries after failures: the `--max-retries` budget.
    retries: u32,
    /// 429s: they do not use up the budget, only time.
    refusals: u32,
    maybe_landed: bool,
    /// `--max-wait` after the request began.
    deadline: Instant,
}

impl Tries {
    fn new(client: &Client, call: &Call<'_>) -> Tries {
        let inner = &*client.inner;
        // A create sent again after a check continues its budget, backoff
        // and deadline.
        let deadline = match call.after {
            Some(next) => next.deadline,
            None => Instant::now()
                .checked_add(inner.max_wait)
                .unwrap_or_else(|| Instant::now() + MAX_MAX_WAIT),
        };
        Tries {
            url: format!("{}{}", inner.root, call.path),
            path: format!("{}{}", inner.root_path, call.path),
            retries: call.after.map_or(0, |next| next.attempts),
            refusals: 0,
            maybe_landed: call.after.is_some(),
            deadline,
        }
    }

    fn given_up(&self, call: &Call<'_>) -> Error {
        Error::Interrupted {
            method: call.method.clone(),
            path: self.path.clone(),
        }
    }

    fn out_of_time(&self, call: &Call<'_>, max_wait: Duration, what: String) -> Error {
        Error::OutOfTime {
            method: call.method.clone(),
            path: self.path.clone(),
            what,
            max_wait: describe_wait(max_wait),
            attempts: self.retries + self.refusals,
            maybe_landed: self.maybe_landed,
        }
    }
}

/// The longest `--max-wait` taken as given (an instant must not overflow).
const MAX_MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The largest answer read: a page of 200 objects is well under a mebibyte.
/// A longer body (or one that never ends) fails the attempt as a protocol
/// error instead of filling memory.
pub const BODY_CAP: u64 = 4 * 1024 * 1024;

/// The longest message copied from an answer into an error (and so into a
/// result row).
pub const MESSAGE_LIMIT: usize = 300;

/// What became of one attempt.
enum Reply {
    /// An answer the API may give: a 2xx holding the object asked for, or a
    /// non-2xx (a Gigs error object, or a status whose body is not read).
    Answer(Answer),
    /// An answer the API does not give: a redirect, a body over
    /// [`BODY_CAP`], a 2xx holding another object (an error object, a list
    /// for an object), a 4xx without an error object.
    Protocol { status: u16, message: String },
    /// No answer.
    Transport { kind: Transport, message: String },
}

impl Reply {
    fn attempt(&self) -> Attempt {
        match self {
            Reply::Answer(answer) => Attempt::Answered {
                status: answer.status,
                retry_after: answer.retry_after,
            },
            Reply::Protocol { .. } => Attempt::Protocol,
            Reply::Transport { kind, .. } => Attempt::Transport(*kind),
        }
    }

    fn transport(err: &reqwest::Error) -> Reply {
        Reply::Transport {
            kind: classify(err),
            message: cut(&error_chain(err), MESSAGE_LIMIT),
        }
    }
}

/// The parts of an answer the client uses, read in full.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// An object fetched by id must be the one asked for: another one (a cache
/// or proxy gone wrong) would have the row act on someone else's user or plan.
fn same_id(found: &str, wanted: &str, path: String) -> Result<(), Error> {
    if found == wanted {
        return Ok(());
    }
    Err(Error::Protocol {
        method: Method::GET,
        path,
        status: 200,
        message: format!("{} where {} was asked for", cut(found, 80), cut(wanted, 80)),
        attempts: 1,
        next_try: None,
    })
}

/// The `object` of an answer, read without the rest.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    object: Option<String>,
}

/// Reads an answer, at most [`BODY_CAP`] of it, and checks that it is one
/// the API gives for a request that expects `expected`.
fn read_answer(mut response: Response, expected: &str) -> Reply {
    let status = response.status().as_u16();
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| redact_url(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_else(|| "nowhere".to_owned());
        return protocol(
            status,
            format!(
                "a redirect to {}; the Gigs API does not redirect, and simboard follows none",
                cut(&location, MESSAGE_LIMIT)
            ),
        );
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
    let over = || protocol(status, format!("a body over {} MiB", BODY_CAP >> 20));
    if response.content_length().is_some_and(|n| n > BODY_CAP) {
        return over();
    }
    let mut body = Vec::new();
    if let Err(err) = (&mut response).take(BODY_CAP + 1).read_to_end(&mut body) {
        return read_failure(err);
    }
    if body.len() as u64 > BODY_CAP {
        return over();
    }
    let answer = Answer {
        status,
        retry_after,
        body,
    };
    match check_object(&answer, expected) {
        Some(message) => protocol(status, message),
        None => Reply::Answer(answer),
    }
}

/// Why an answer is not the one the API gives, if it is not: a 2xx must hold
/// the `object` asked for, and a final 4xx a Gigs error object (a 4xx from
/// something in between must not read as "not found"). The statuses that are
/// retried, 401 and 403 are taken whatever their body.
fn check_object(answer: &Answer, expected: &str) -> Option<String> {
    let success = (200..300).contains(&answer.status);
    if !success && (retry::is_retryable_status(answer.status) || matches!(answer.status, 401 | 403))
    {
        return None;
    }
    let wanted = if success { expected } else { "error" };
    let head: Option<Head> = serde_json::from_slice(&answer.body).ok();
    let found = head.and_then(|h| h.object);
    match found.as_deref() {
        Some(object) if object == wanted => None,
        Some("error") => {
            let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
            Some(format!(
                "an error object where a {wanted} was expected ({}: {})",
                cut(body.kind.as_deref().unwrap_or(""), 100),
                cut(body.message.as_deref().unwrap_or(""), MESSAGE_LIMIT)
            ))
        }
        Some(object) => Some(format!(
            "a {} where a {wanted} was expected",
            cut(object, 100)
        )),
        None => Some(format!(
            "no JSON object where a {wanted} was expected: {}",
            snippet(&answer.body)
        )),
    }
}

fn protocol(status: u16, message: String) -> Reply {
    Reply::Protocol { status, message }
}

/// A body that could not be read to its end: the connection broke or timed
/// out in the middle.
fn read_failure(err: std::io::Error) -> Reply {
    let kind = match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
    {
        Some(err) => classify(err),
        None if err.kind() == std::io::ErrorKind::TimedOut => Transport::Timeout,
        // The request was sent: it may have acted.
        None => Transport::Broken,
    };
    let kind = match kind {
        Transport::Connect => Transport::Broken,
        other => other,
    };
    Reply::Transport {
        kind,
        message: cut(&error_chain(&err), MESSAGE_LIMIT),
    }
}

fn classify(err: &reqwest::Error) -> Transport {
    if err.is_connect() {
        Transport::Connect
    } else if err.is_timeout() {
        Transport::Timeout
    } else {
        Transport::Broken
    }
}

/// The error and its causes, `: `-joined (reqwest's own message is terse).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a body that is not a Gigs error object, for the message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * MESSAGE_LIMIT)]);
    cut(text.trim(), 200)
}

/// At most `max` characters of `text`, with `…` when some were cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `url` with the password of its user part, if any, replaced by `***`, so
/// that an `--api-url` of `https://me:secret@host` can be printed. Works on
/// text that is not a valid URL too.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = rest[..at].split(':').next().unwrap_or("");
    format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
}

/// `url` without its user part (`https://me:secret@host/x` → `https://host/x`).
fn without_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `950 ms`, `12 s`, `15 min`, `3.5 h`: a wait, for people.
pub fn describe_wait(wait: Duration) -> String {
    let secs = wait.as_secs_f64();
    if secs < 1.0 {
        format!("{} ms", wait.as_millis())
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 2.0 * 3600.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// The `object` an endpoint answers with: the chokepoint checks it, so that
/// an error object with status 200, or a list where one object was expected,
/// is a protocol error and never an empty list or a "not found".
pub trait Expected {
    const OBJECT: &'static str;
}

impl<T> Expected for List<T> {
    const OBJECT: &'static str = "list";
}

impl Expected for Plan {
    const OBJECT: &'static str = "plan";
}

impl Expected for Sim {
    const OBJECT: &'static str = "sim";
}

impl Expected for User {
    const OBJECT: &'static str = "user";
}

impl Expected for Subscription {
    const OBJECT: &'static str = "subscription";
}

impl Expected for UserAddress {
    const OBJECT: &'static str = "userAddress";
}

/// A request body as JSON.
fn encode_body(method: Method, path: &str, body: &impl Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|err| Error::Decode {
        method,
        path: path.to_owned(),
        status: 0,
        message: format!("cannot encode the request: {err}"),
    })
}

/// Percent-encodes one path segment or query value: an id from a manifest
/// must not be able to change the path (`../`) or the query (`&`).
pub fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("sim_0SNlur"), "sim_0SNlur");
        assert_eq!(encode_segment("../x&y=1"), "..%2Fx%26y%3D1");
    }

    #[test]
    fn api_errors_say_status_type_code_and_message() {
        let err = ApiError {
            method: Method::POST,
            path: "/projects/p/subscriptions".into(),
            status: 422,
            kind: "invalid".into(),
            code: "simAlreadyUsed".into(),
            message: "SIM already in use".into(),
            attempts: 2,
            maybe_landed: true,
            next_try: None,
        };
        assert_eq!(
            err.to_string(),
            "POST /projects/p/subscriptions answered HTTP 422 invalid/simAlreadyUsed: \
             SIM already in use (after 2 attempts)"
        );
    }

    #[test]
    fn an_interrupted_run_gives_up_a_long_retry_after_at_once() {
        use std::io::{Read, Write};
        static INTERRUPTED: AtomicBool = AtomicBool::new(false);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
            // Ctrl-C, as soon as the client has its answer.
            INTERRUPTED.store(true, Ordering::SeqCst);
        });
        let client = Client::new(ClientConfig {
            base_url: url,
            project: "p".into(),
            token: Token::new("t".into()),
            max_retries: 5,
            max_wait: Duration::from_secs(7200),
            rate: None,
            connections: 1,
            log: None,
            notice: None,
        })
        .unwrap();
        client.give_up_when(&INTERRUPTED);

        let started = Instant::now();
        let err = client.get_plan("pln_1").unwrap_err();

        assert!(err.is_interrupted(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(client.counts().requests, 1, "not sent again");
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet(b"  <html>  "), "<html>");
        assert_eq!(snippet("é".repeat(300).as_bytes()).chars().count(), 201);
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            redact_url("https://me:s3cret@api.example/x?y=@"),
            "https://me:***@api.example/x?y=@"
        );
        assert_eq!(redact_url("http://a:b:c@h"), "http://a:***@h");
        assert_eq!(
            redact_url("https://api.gigs.com/p@x"),
            "https://api.gigs.com/p@x"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn credentials_in_the_url_are_not_sent() {
        assert_eq!(
            without_userinfo("http://ops:pw@127.0.0.1:9/x?y=@"),
            "http://127.0.0.1:9/x?y=@"
        );
        assert_eq!(
            without_userinfo("https://api.gigs.com/p@x"),
            "https://api.gigs.com/p@x"
        );
    }

    #[test]
    fn an_answer_must_hold_the_object_asked_for() {
        let answer = |status, body: &str| Answer {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        let list = r#"{"object":"list","items":[]}"#;
        assert_eq!(check_object(&answer(200, list), "list"), None);
        let error = r#"{"object":"error","type":"internal","message":"oops"}"#;
        let why = check_object(&answer(200, error), "list").unwrap();
        assert!(
            why.contains("error object") && why.contains("oops"),
            "{why}"
        );
        let why = check_object(&answer(200, list), "sim").unwrap();
        assert_eq!(why, "a list where a sim was expected");
        assert!(check_object(&answer(200, "<html>"), "sim").is_some());
        assert!(check_object(&answer(200, r#"{"id":"sim_1"}"#), "sim").is_some());
        // A final 4xx must be the API's error object; a 404 from a proxy is not
        // "not found".
        assert_eq!(check_object(&answer(404, error), "sim"), None);
        assert!(check_object(&answer(404, "<html>Not Found</html>"), "sim").is_some());
        // Retried statuses and refusals of the token are taken as they are.
        for status in [401, 403, 429, 500, 503] {
            assert_eq!(check_object(&answer(status, ""), "sim"), None, "{status}");
        }
    }

    fn api_error(status: u16, kind: &str, code: &str) -> Error {
        Error::Api(Box::new(ApiError {
            method: Method::POST,
            path: "/subscriptions".into(),
            status,
            kind: kind.into(),
            code: code.into(),
            message: String::new(),
            attempts: 1,
            maybe_landed: false,
            next_try: None,
        }))
    }

    #[test]
    fn invalid_is_the_same_answer_with_400_or_422() {
        for status in [400, 422] {
            let err = api_error(status, "invalid", "userAddressInvalid");
            assert!(err.is_invalid(), "{status}");
            assert_eq!(err.code(), Some("userAddressInvalid"));
            assert!(!err.is_auth() && !err.is_not_found());
        }
        assert!(!api_error(400, "malformed", "").is_invalid());
        let unknown = api_error(422, "invalid", "someCodeGigsAddsTomorrow");
        assert_eq!(unknown.code(), Some("someCodeGigsAddsTomorrow"));
    }

    #[test]
    fn auth_errors_are_recognised() {
        let err = |status| {
            Error::Api(Box::new(ApiError {
                method: Method::GET,
                path: String::new(),
                status,
                kind: String::new(),
                code: String::new(),
                message: String::new(),
                attempts: 1,
                maybe_landed: false,
                next_try: None,
            }))
        };
        assert!(err(401).is_auth() && err(403).is_auth() && !err(404).is_auth());
    }
}
