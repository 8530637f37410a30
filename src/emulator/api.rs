//! The Gigs API surface: routing by method and path segments, then the checks
//! in the documented order (headers, then path, then query or body), then the
//! rule in [`State`] that the route stands for.
//!
//! This file turns one request into one answer and nothing else: it knows no
//! sockets, no latency and no fault knobs (the server adds those around it),
//! so every rule here can be reasoned about as a function of the request and
//! the state. Bodies are read as `serde_json::Value` on purpose: the emulator
//! has its own reading of the API, written from the reference, and shares no
//! wire type with the client.

use hyper::Method;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::{
    AddressFields, Cursor, NewSubscription, NewUser, Now, Page, PlanFilter, Replay, SimFilter,
    State, SubscriptionFilter,
};

/// The API's routes. Their templates key the request counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    ListSims,
    GetSim,
    SearchSims,
    ListPlans,
    GetPlan,
    ListUsers,
    CreateUser,
    SearchUsers,
    GetUser,
    ListAddresses,
    CreateAddress,
    GetAddress,
    ListSubscriptions,
    CreateSubscription,
    GetSubscription,
}

impl Route {
    pub fn template(self) -> &'static str {
        match self {
            Route::ListSims => "GET /projects/{project}/sims",
            Route::GetSim => "GET /projects/{project}/sims/{id}",
            Route::SearchSims => "POST /projects/{project}/sims/search",
            Route::ListPlans => "GET /projects/{project}/plans",
            Route::GetPlan => "GET /projects/{project}/plans/{id}",
            Route::ListUsers => "GET /projects/{project}/users",
            Route::CreateUser => "POST /projects/{project}/users",
            Route::SearchUsers => "POST /projects/{project}/users/search",
            Route::GetUser => "GET /projects/{project}/users/{id}",
            Route::ListAddresses => "GET /projects/{project}/users/{user}/addresses",
            Route::CreateAddress => "POST /projects/{project}/users/{user}/addresses",
            Route::GetAddress => "GET /projects/{project}/users/{user}/addresses/{id}",
            Route::ListSubscriptions => "GET /projects/{project}/subscriptions",
            Route::CreateSubscription => "POST /projects/{project}/subscriptions",
            Route::GetSubscription => "GET /projects/{project}/subscriptions/{id}",
        }
    }
}

/// A matched route with its path parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: Route,
    pub project: &'a str,
    /// The user an address route belongs to; empty on other routes.
    pub user: &'a str,
    pub id: &'a str,
}

/// Matches a request line against the API's routes.
pub fn route<'a>(method: &Method, path: &'a str) -> Option<Matched<'a>> {
    let rest = path.strip_prefix("/projects/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    if let Some(matched) = address_route(method, &segments) {
        return Some(matched);
    }
    let (route, project, id) = match (method, segments.as_slice()) {
        (&Method::GET, [p, "sims"]) => (Route::ListSims, *p, ""),
        (&Method::POST, [p, "sims", "search"]) => (Route::SearchSims, *p, ""),
        (&Method::GET, [p, "sims", id]) => (Route::GetSim, *p, *id),
        (&Method::GET, [p, "plans"]) => (Route::ListPlans, *p, ""),
        (&Method::GET, [p, "plans", id]) => (Route::GetPlan, *p, *id),
        (&Method::GET, [p, "users"]) => (Route::ListUsers, *p, ""),
        (&Method::POST, [p, "users"]) => (Route::CreateUser, *p, ""),
        (&Method::POST, [p, "users", "search"]) => (Route::SearchUsers, *p, ""),
        (&Method::GET, [p, "users", id]) => (Route::GetUser, *p, *id),
        (&Method::GET, [p, "subscriptions"]) => (Route::ListSubscriptions, *p, ""),
        (&Method::POST, [p, "subscriptions"]) => (Route::CreateSubscription, *p, ""),
        (&Method::GET, [p, "subscriptions", id]) => (Route::GetSubscription, *p, *id),
        _ => return None,
    };
    Some(Matched {
        route,
        project,
        user: "",
        id,
    })
}

/// The routes of `/users/{user}/addresses`.
fn address_route<'a>(method: &Method, segments: &[&'a str]) -> Option<Matched<'a>> {
    let (route, project, user, id) = match (method, segments) {
        (&Method::GET, [p, "users", u, "addresses"]) => (Route::ListAddresses, *p, *u, ""),
        (&Method::POST, [p, "users", u, "addresses"]) => (Route::CreateAddress, *p, *u, ""),
        (&Method::GET, [p, "users", u, "addresses", id]) => (Route::GetAddress, *p, *u, *id),
        _ => return None,
    };
    Some(Matched {
        route,
        project,
        user,
        id,
    })
}

/// The key a request is counted under in `counters.requests`.
pub fn counter_key(method: &Method, path: &str) -> String {
    match route(method, path) {
        Some(m) => m.route.template().to_owned(),
        None => format!("{method} (unmatched)"),
    }
}

/// Why a request body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// One request, as much of it as the API rules look at.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The request's rank in `requestsTotal` (from 1), for `revoke_token_after`.
    pub rank: u64,
    pub authorization: Option<&'a [u8]>,
    pub idempotency_key: Option<&'a [u8]>,
    pub body: Result<&'a [u8], BodyError>,
}

/// One answer: status and serialised JSON body. `created` tells the server
/// which fresh create this is, if any: `--drop-rate` may drop a subscription
/// create's answer, `--address-drop-rate` an address create's.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub created: Option<Route>,
}

impl Answer {
    pub fn json(status: u16, body: &Value) -> Answer {
        Answer {
            status,
            // Serialising a `Value` cannot fail; the fallback keeps it panic-free.
            body: serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
            created: None,
        }
    }

    pub fn error(err: &ApiError) -> Answer {
        Answer::json(err.status, &err.to_json())
    }
}

/// The project the emulator serves and the token it expects.
#[derive(Clone, Debug)]
pub struct Settings {
    pub token: String,
    pub project: String,
    /// The token is refused for every request ranked after this many.
    pub revoke_token_after: Option<u64>,
    /// List endpoints check their filters and then ignore them.
    pub ignore_filters: bool,
    /// At most this many items per page, whatever `limit` says.
    pub page_cap: Option<usize>,
    /// The status `invalid` errors are answered with: 422 or 400.
    pub invalid_status: u16,
}

impl Settings {
    /// The page a list query asks for, cut down to `page_cap`.
    fn page(&self, query: &Query) -> Result<Page, ApiError> {
        let mut page = query.page()?;
        if let Some(cap) = self.page_cap {
            page.limit = page.limit.min(cap);
        }
        Ok(page)
    }

    /// The filter as given, or no filter at all under `ignore_filters`.
    fn applied<F: Default>(&self, filter: F) -> F {
        if self.ignore_filters {
            F::default()
        } else {
            filter
        }
    }

    /// The answer to an error, with `invalid` moved to 400 when asked.
    fn error(&self, err: &ApiError) -> Answer {
        let mut answer = Answer::error(err);
        if err.kind == "invalid" {
            answer.status = self.invalid_status;
        }
        answer
    }
}

/// Answers one API request against the state.
pub fn handle(state: &mut State, settings: &Settings, incoming: &Incoming<'_>, now: Now) -> Answer {
    let key = match check_headers(settings, incoming) {
        Ok(key) => key,
        Err(err) => return settings.error(&err),
    };
    let matched = match route(incoming.method, incoming.path) {
        Some(m) if m.project == settings.project => m,
        Some(m) => {
            let err = ApiError::not_found(format!("No project has the id {:?}", m.project));
            return settings.error(&err);
        }
        None => {
            let err =
                ApiError::not_found(format!("No route {} {}", incoming.method, incoming.path));
            return settings.error(&err);
        }
    };
    if let Some(key) = key {
        if let Some(replay) = state.replay(incoming.path, key, now.instant) {
            let answer = Answer {
                status: replay.status,
                body: replay.body.clone(),
                created: None,
            };
            state.counters.idempotent_replays += 1;
            return answer;
        }
    }
    let answer = match dispatch(state, settings, matched, incoming, now) {
        Ok((status, Reply::Bytes(body))) => Answer {
            status,
            body,
            created: None,
        },
        Ok((status, Reply::Json(body))) => {
            let mut answer = Answer::json(status, &body);
            answer.created = Some(matched.route)
                .filter(|route| matches!(route, Route::CreateSubscription | Route::CreateAddress));
            answer
        }
        Err(err) => settings.error(&err),
    };
    // Only a successful answer is remembered: a failed request may be
    // retried under the same key and be done for real.
    if let Some(key) = key {
        if answer.status < 400 {
            let replay = Replay {
                status: answer.status,
                body: answer.body.clone(),
            };
            state.remember(incoming.path, key, replay, now.instant);
        }
    }
    answer
}

/// The header checks, first of all: the token (which may have been revoked
/// by now), then the `Idempotency-Key` (which only a POST carries
/// meaningfully; on a GET it is ignored).
fn check_headers<'a>(
    settings: &Settings,
    incoming: &Incoming<'a>,
) -> Result<Option<&'a str>, ApiError> {
    let token = incoming
        .authorization
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    let revoked = settings
        .revoke_token_after
        .is_some_and(|after| incoming.rank > after);
    if revoked || token != Some(settings.token.as_str()) {
        return Err(ApiError::unauthenticated());
    }
    if incoming.method != Method::POST {
        return Ok(None);
    }
    let Some(raw) = incoming.idempotency_key else {
        return Ok(None);
    };
    match std::str::from_utf8(raw) {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// A successful answer's body: JSON to serialise, or bytes written already.
enum Reply {
    Json(Value),
    Bytes(Vec<u8>),
}

fn dispatch(
    state: &mut State,
    settings: &Settings,
    matched: Matched<'_>,
    incoming: &Incoming<'_>,
    now: Now,
) -> Result<(u16, Reply), ApiError> {
    let query = Query::parse(incoming.query);
    let ok = |value: Value| Ok((200, Reply::Json(value)));
    let created = |value: Value| Ok((201, Reply::Json(value)));
    match matched.route {
        Route::ListSims => Ok((200, Reply::Bytes(list_sims(state, settings, &query, now)?))),
        Route::GetSim => ok(state.get_sim(matched.id, now)?),
        Route::SearchSims => ok(search_sims(state, incoming, now)?),
        Route::ListPlans => ok(list_plans(state, settings, &query)?),
        Route::GetPlan => ok(state.get_plan(matched.id)?),
        Route::ListUsers => ok(state.list_users(&settings.page(&query)?)?),
        Route::CreateUser => created(create_user(state, incoming, now)?),
        Route::SearchUsers => {
            let body = json_body(incoming)?;
            let email = required_str(&body, "email")?;
            ok(state.search_users(&email))
        }
        Route::GetUser => ok(state.get_user(matched.id)?),
        Route::ListAddresses => {
            let page = settings.page(&query)?;
            ok(state.list_addresses(matched.user, &page)?)
        }
        Route::CreateAddress => {
            let fields = address_fields(&json_body(incoming)?)?;
            created(state.create_address(matched.user, fields, now)?)
        }
        Route::GetAddress => ok(state.get_address(matched.user, matched.id)?),
        Route::ListSubscriptions => ok(list_subscriptions(state, settings, &query, now)?),
        Route::CreateSubscription => created(create_subscription(state, incoming, now)?),
        Route::GetSubscription => ok(state.get_subscription(matched.id, now)?),
    }
}

/// `GET sims`. With `--ignore-filters` the filters are still checked (a bad
/// one is still refused) and then not applied.
fn list_sims(
    state: &State,
    settings: &Settings,
    query: &Query,
    now: Now,
) -> Result<Vec<u8>, ApiError> {
    let filter = SimFilter {
        provider: query.get("provider")?.map(str::to_owned),
        statuses: query.list("status", &["inactive", "active", "retired", "deleted"])?,
        sim_type: query.one_of("type", &["pSIM", "eSIM"])?,
        user: query.get("user")?.map(str::to_owned),
    };
    let page = settings.page(query)?;
    state.list_sims(&settings.applied(filter), &page, now)
}

fn search_sims(state: &State, incoming: &Incoming<'_>, now: Now) -> Result<Value, ApiError> {
    let body = json_body(incoming)?;
    let iccid = required_str(&body, "iccid")?;
    if !is_searchable_iccid(&iccid) {
        return Err(ApiError::invalid_because(
            "invalidICCID",
            format!("{iccid:?} is not an ICCID: 19 digits (maybe padded with F) or 20"),
        ));
    }
    let types = match body.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::Array(types)) => Some(
            types
                .iter()
                .map(|t| match t.as_str() {
                    Some(t @ ("pSIM" | "eSIM")) => Ok(t.to_owned()),
                    _ => Err(ApiError::invalid("`type` lists only \"pSIM\" and \"eSIM\"")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::invalid("`type` must be a list of SIM types")),
    };
    Ok(state.search_sims(&iccid, types.as_deref(), now))
}

fn list_plans(state: &State, settings: &Settings, query: &Query) -> Result<Value, ApiError> {
    let filter = PlanFilter {
        provider: query.get("provider")?.map(str::to_owned),
        sim_type: query.one_of("simType", &["pSIM", "eSIM"])?,
        statuses: query.list(
            "status",
            &["available", "archived", "pending", "draft", "active"],
        )?,
    };
    let page = settings.page(query)?;
    state.list_plans(&settings.applied(filter), &page)
}

fn create_user(state: &mut State, incoming: &Incoming<'_>, now: Now) -> Result<Value, ApiError> {
    let body = json_body(incoming)?;
    let email = required_str(&body, "email")?;
    if email.chars().any(char::is_control) {
        return Err(ApiError::invalid_because(
            "invalidEmail",
            "The email contains a control character",
        ));
    }
    if !looks_like_email(&email) {
        return Err(ApiError::invalid_because(
            "invalidEmail",
            format!("{email:?} is not an email address"),
        ));
    }
    let full_name = optional_str(&body, "fullName")?;
    if full_name
        .as_deref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_because(
            "invalidFullName",
            "The fullName contains a control character",
        ));
    }
    let birthday = optional_str(&body, "birthday")?;
    if birthday.as_deref().is_some_and(|b| !looks_like_date(b)) {
        return Err(ApiError::invalid("`birthday` must be a date: YYYY-MM-DD"));
    }
    let new = NewUser {
        email,
        full_name,
        birthday,
        preferred_locale: optional_str(&body, "preferredLocale")?,
    };
    state.create_user(new, now)
}

/// The body of an address create. A missing `line1` or `city`, a `country`
/// that is not two letters, or a control character anywhere is the
/// documented `userAddressInvalid`; a field of the wrong JSON type is a plain
/// `invalid`, like any other ill-typed field.
fn address_fields(body: &Map<String, Value>) -> Result<AddressFields, ApiError> {
    let not_valid = |why: &str| {
        ApiError::invalid_because(
            "userAddressInvalid",
            format!("The given address is not valid: {why}"),
        )
    };
    let line1 = optional_str(body, "line1")?.ok_or_else(|| not_valid("`line1` is required"))?;
    let city = optional_str(body, "city")?.ok_or_else(|| not_valid("`city` is required"))?;
    let country = optional_str(body, "country")?
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| not_valid("`country` is an ISO 3166-1 alpha-2 code"))?
        .to_ascii_uppercase();
    let fields = AddressFields {
        line1,
        line2: optional_str(body, "line2")?,
        city,
        postal_code: optional_str(body, "postalCode")?,
        state: optional_str(body, "state")?,
        country,
    };
    let texts = [&fields.line1, &fields.city].into_iter().chain(
        [&fields.line2, &fields.postal_code, &fields.state]
            .into_iter()
            .flatten(),
    );
    for text in texts {
        if text.chars().any(char::is_control) {
            return Err(not_valid("it contains a control character"));
        }
        if text.trim().is_empty() {
            return Err(not_valid("a field is blank"));
        }
    }
    Ok(fields)
}

fn list_subscriptions(
    state: &State,
    settings: &Settings,
    query: &Query,
    now: Now,
) -> Result<Value, ApiError> {
    let filter = SubscriptionFilter {
        sim: query.get("sim")?.map(str::to_owned),
        user: query.get("user")?.map(str::to_owned),
        plan: query.get("plan")?.map(str::to_owned),
        statuses: query.list("status", &["pending", "initiated", "active", "ended"])?,
    };
    let page = settings.page(query)?;
    state.list_subscriptions(&settings.applied(filter), &page, now)
}

fn create_subscription(
    state: &mut State,
    incoming: &Incoming<'_>,
    now: Now,
) -> Result<Value, ApiError> {
    let body = json_body(incoming)?;
    let plan = required_str(&body, "plan")?;
    let user = required_str(&body, "user")?;
    let sim = optional_str(&body, "sim")?;
    let user_address = match body.get("userAddress") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.is_empty() => {
            return Err(ApiError::invalid("`userAddress` must not be empty"))
        }
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "`userAddress` must be the id of one of the user's addresses",
            ))
        }
    };
    let new = NewSubscription {
        plan,
        user,
        sim,
        user_address,
    };
    state.create_subscription(new, now)
}

/// `^([0-9]{19}F?|[0-9]{20})$`, case-insensitive, without a regex engine.
fn is_searchable_iccid(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    match b.len() {
        19 => digits(b),
        20 => digits(&b[..19]) && (b[19].is_ascii_digit() || matches!(b[19], b'F' | b'f')),
        _ => false,
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The body of a POST as a JSON object: 400 `malformed` when it is not one.
fn json_body(incoming: &Incoming<'_>) -> Result<Map<String, Value>, ApiError> {
    let bytes = match incoming.body {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Err(ApiError::malformed("The body is too large")),
        Err(BodyError::Unreadable) => {
            return Err(ApiError::malformed("The body could not be read"))
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed("A JSON body is required"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::malformed("The body must be a JSON object")),
        Err(err) => Err(ApiError::malformed(format!(
            "The body is not valid JSON: {err}"
        ))),
    }
}

fn required_str(body: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match optional_str(body, name)? {
        Some(value) => Ok(value),
        None => Err(ApiError::invalid(format!("`{name}` is required"))),
    }
}

/// A string field; absent and `null` are the same. An empty string is refused
/// like an empty filter: it is always a mistake, never "no value".
fn optional_str(body: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::invalid(format!("`{name}` must not be empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("`{name}` must be a string"))),
    }
}

/// A decoded query string. Unknown parameters are ignored; a known one given
/// twice, or given empty (`?user=`), is a 422 `invalid`, as the reference
/// says an empty filter is an error rather than "no filter".
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.pairs.iter().filter(|(n, _)| n == name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid(format!(
                "`{name}` is given more than once"
            )));
        }
        match first {
            None => Ok(None),
            Some((_, value)) if value.is_empty() => {
                Err(ApiError::invalid(format!("`{name}` must not be empty")))
            }
            Some((_, value)) => Ok(Some(value)),
        }
    }

    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) if allowed.contains(&value) => Ok(Some(value.to_owned())),
            Some(value) => Err(ApiError::invalid(format!(
                "`{name}` is one of {}, not {value:?}",
                allowed.join(", ")
            ))),
        }
    }

    /// A comma-separated list of allowed values.
    fn list(&self, name: &str, allowed: &[&str]) -> Result<Option<Vec<String>>, ApiError> {
        let Some(value) = self.get(name)? else {
            return Ok(None);
        };
        value
            .split(',')
            .map(|item| {
                if allowed.contains(&item) {
                    Ok(item.to_owned())
                } else {
                    Err(ApiError::invalid(format!(
                        "`{name}` lists values among {}, not {item:?}",
                        allowed.join(", ")
                    )))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// `limit` (1 to 200, 10 by default) and at most one of `after`/`before`.
    fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.get("limit")? {
            None => 10,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=200).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "`limit` is a whole number from 1 to 200, not {raw:?}"
                    )))
                }
            },
        };
        let cursor = match (self.get("after")?, self.get("before")?) {
            (None, None) => Cursor::Start,
            (Some(after), None) => Cursor::After(after.to_owned()),
            (None, Some(before)) => Cursor::Before(before.to_owned()),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "`after` and `before` cannot be given together",
                ))
            }
        };
        Ok(Page { limit, cursor })
    }
}

/// Decodes `%XX` escapes and `+`; bad escapes stay as written, bytes that are
/// not UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_on_method_and_segments() {
        let m = route(&Method::GET, "/projects/p/sims/sim_1").unwrap();
        assert_eq!((m.route, m.project, m.id), (Route::GetSim, "p", "sim_1"));
        let m = route(&Method::POST, "/projects/p/sims/search").unwrap();
        assert_eq!(m.route, Route::SearchSims);
        assert!(route(&Method::DELETE, "/projects/p/sims/sim_1").is_none());
        assert!(route(&Method::GET, "/projects/p/sims/a/b").is_none());
        assert!(route(&Method::GET, "/sims").is_none());
    }

    #[test]
    fn searchable_iccids_follow_the_documented_pattern() {
        assert!(is_searchable_iccid("8988307000000753711"));
        assert!(is_searchable_iccid("8988307000000753711F"));
        assert!(is_searchable_iccid("8988307000000753711f"));
        assert!(is_searchable_iccid("89883070000007537119"));
        assert!(!is_searchable_iccid("898830700000075371"));
        assert!(!is_searchable_iccid("89883070000007537119F"));
        assert!(!is_searchable_iccid("8988307000000753711X"));
    }

    #[test]
    fn percent_decoding_never_panics_and_decodes() {
        assert_eq!(percent_decode("pending%2Cactive"), "pending,active");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%ff"), "\u{FFFD}");
    }
}
