//! The emulated project: its SIMs, plans, users and subscriptions, the rules
//! that change them, and the counters the inspection route reports.
//!
//! Everything here is plain data behind one mutex (held by the server), so a
//! rule such as "a SIM has at most one live subscription" holds simply because
//! no two requests ever see the state at once. Nothing in this file knows
//! about HTTP: it takes parsed parameters and answers JSON or an [`ApiError`].
//!
//! Statuses that change with time (a delayed test SIM turning active) are not
//! driven by timers: each record keeps the instant it activates at, and its
//! status is computed whenever it is read.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::catalogue::{Activation, Placeholder, Plan, TEST_ICCID_PREFIX};
use super::clock::rfc3339;
use super::error::ApiError;

/// The instant a request is handled at, on both clocks: the monotonic one
/// decides statuses, the wall one is what timestamps show.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub instant: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn get() -> Now {
        Now {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sim {
    pub id: String,
    pub iccid: String,
    pub sim_type: &'static str,
    pub provider: String,
    pub retired: bool,
    pub created_at: String,
    /// When the SIM turns active; `None` while it has never been activated
    /// (or never will be, for a delay too long to represent).
    pub activates_at: Option<Instant>,
    /// The user of the SIM's subscription, for the `user` filter of `GET sims`.
    pub user: Option<String>,
    /// The SIM's live subscription: there is at most one.
    pub subscription: Option<String>,
}

impl Sim {
    pub fn status(&self, now: Instant) -> &'static str {
        if self.retired {
            "retired"
        } else if self.activates_at.is_some_and(|at| at <= now) {
            "active"
        } else {
            "inactive"
        }
    }

    fn to_json(&self, now: Instant) -> Value {
        json!({
            "object": "sim",
            "id": self.id,
            "iccid": self.iccid,
            "type": self.sim_type,
            "provider": self.provider,
            "status": self.status(now),
            "createdAt": self.created_at,
            "metadata": {},
        })
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub birthday: Option<String>,
    pub preferred_locale: String,
    pub created_at: String,
}

impl User {
    fn to_json(&self) -> Value {
        json!({
            "object": "user",
            "id": self.id,
            "email": self.email,
            "fullName": self.full_name,
            "birthday": self.birthday,
            "emailVerified": false,
            "preferredLocale": self.preferred_locale,
            "status": "active",
            "createdAt": self.created_at,
            "metadata": {},
        })
    }
}

#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: String,
    pub plan: String,
    pub user: String,
    pub sim: String,
    pub phone_number: String,
    pub user_address: Option<Value>,
    pub created_at: String,
    pub activates_at: Option<Instant>,
    pub activated_wall: Option<SystemTime>,
}

impl Subscription {
    /// `pending` until the activation instant, `active` from then on. The
    /// emulator never ends a subscription, so every one of them is live.
    pub fn status(&self, now: Instant) -> &'static str {
        if self.activates_at.is_some_and(|at| at <= now) {
            "active"
        } else {
            "pending"
        }
    }

    fn activated_at(&self, now: Instant) -> Value {
        match (self.status(now), self.activated_wall) {
            ("active", Some(at)) => Value::from(rfc3339(at)),
            _ => Value::Null,
        }
    }

    /// The fields shared by the API answer and the inspection route; the
    /// caller adds `plan`, `sim` and `user`, embedded or as ids.
    fn to_json(&self, now: Instant, plan: Value, sim: Value, user: Value) -> Value {
        json!({
            "object": "subscription",
            "id": self.id,
            "status": self.status(now),
            "plan": plan,
            "sim": sim,
            "user": user,
            "phoneNumber": self.phone_number,
            "userAddress": self.user_address,
            "createdAt": self.created_at,
            "activatedAt": self.activated_at(now),
            "endedAt": null,
            "metadata": {},
        })
    }
}

/// Records in creation order with an index by id. Creation order is the
/// order lists are cut in (newest first), and cursors are positions in it.
#[derive(Debug)]
pub struct Table<T> {
    items: Vec<T>,
    by_id: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    fn insert(&mut self, id: String, item: T) -> usize {
        let index = self.items.len();
        self.items.push(item);
        self.by_id.insert(id, index);
        index
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    fn get(&self, id: &str) -> Option<&T> {
        self.position(id).map(|i| &self.items[i])
    }

    fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// Where a list page starts: `after` and `before` are ids of the collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Start,
    After(String),
    Before(String),
}

#[derive(Clone, Debug)]
pub struct Page {
    pub limit: usize,
    pub cursor: Cursor,
}

/// Cuts one page, newest first, out of the records that `keep` accepts, and
/// answers the list object with its `moreItemsAfter`/`moreItemsBefore` ids.
fn list_page<T>(
    table: &Table<T>,
    page: &Page,
    what: &str,
    keep: impl Fn(&T) -> bool,
    id_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let cursor_at = |id: &str, name: &str| {
        table
            .position(id)
            .ok_or_else(|| ApiError::invalid(format!("`{name}`: no {what} has the id {id:?}")))
    };
    let len = table.items.len();
    // Positions of the page, in list order (newest first = highest position first).
    let mut positions: Vec<usize> = match &page.cursor {
        Cursor::Start => (0..len)
            .rev()
            .filter(|&i| keep(&table.items[i]))
            .take(page.limit)
            .collect(),
        Cursor::After(id) => {
            let at = cursor_at(id, "after")?;
            (0..at)
                .rev()
                .filter(|&i| keep(&table.items[i]))
                .take(page.limit)
                .collect()
        }
        Cursor::Before(id) => {
            let at = cursor_at(id, "before")?;
            let mut newer: Vec<usize> = (at + 1..len)
                .filter(|&i| keep(&table.items[i]))
                .take(page.limit)
                .collect();
            newer.reverse();
            newer
        }
    };
    let (first, last) = match (positions.first(), positions.last()) {
        (Some(&first), Some(&last)) => (first, last),
        _ => return Ok(list_json(Vec::new(), None, None)),
    };
    let more_after = (0..last)
        .rev()
        .any(|i| keep(&table.items[i]))
        .then(|| id_of(&table.items[last]).to_owned());
    let more_before = (first + 1..len)
        .any(|i| keep(&table.items[i]))
        .then(|| id_of(&table.items[first]).to_owned());
    let items = positions
        .drain(..)
        .map(|i| render(&table.items[i]))
        .collect();
    Ok(list_json(items, more_after, more_before))
}

pub fn list_json(items: Vec<Value>, after: Option<String>, before: Option<String>) -> Value {
    json!({
        "object": "list",
        "items": items,
        "moreItemsAfter": after,
        "moreItemsBefore": before,
    })
}

/// What the inspection route counts. `requests` is keyed by method and route
/// template, e.g. `GET /projects/{project}/sims/{id}`.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub requests: BTreeMap<String, u64>,
    pub requests_total: u64,
    pub rate_limited: u64,
    pub faults_injected: u64,
    pub dropped: u64,
    pub subscriptions_created: u64,
    pub users_created: u64,
    pub idempotent_replays: u64,
}

impl Counters {
    /// Counts one request and answers its rank in `requests_total` (from 1).
    pub fn count_request(&mut self, key: &str) -> u64 {
        self.requests_total += 1;
        match self.requests.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.requests.insert(key.to_owned(), 1);
            }
        }
        self.requests_total
    }

    fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "requestsTotal": self.requests_total,
            "rateLimited": self.rate_limited,
            "faultsInjected": self.faults_injected,
            "dropped": self.dropped,
            "subscriptionsCreated": self.subscriptions_created,
            "usersCreated": self.users_created,
            "idempotentReplays": self.idempotent_replays,
        })
    }
}

/// Filters of `GET sims`, already checked.
#[derive(Clone, Debug, Default)]
pub struct SimFilter {
    pub provider: Option<String>,
    pub statuses: Option<Vec<String>>,
    pub sim_type: Option<String>,
    pub user: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct PlanFilter {
    pub provider: Option<String>,
    pub sim_type: Option<String>,
    pub statuses: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct SubscriptionFilter {
    pub sim: Option<String>,
    pub user: Option<String>,
    pub plan: Option<String>,
    pub statuses: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub full_name: Option<String>,
    pub birthday: Option<String>,
    pub preferred_locale: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewSubscription {
    pub plan: String,
    pub user: String,
    pub sim: Option<String>,
    pub user_address: Option<Value>,
}

/// A stored answer to replay for an `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct Replay {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The SIM a subscription create will use, before anything is committed.
enum Candidate {
    Stored(usize),
    Placeholder(&'static Placeholder),
    /// No `sim` given, for an eSIM plan: an eSIM is provisioned on demand.
    NewEsim,
}

pub struct State {
    sims: Table<Sim>,
    sims_by_iccid: HashMap<String, usize>,
    plans: Table<Plan>,
    users: Table<User>,
    users_by_email: HashMap<String, usize>,
    subscriptions: Table<Subscription>,
    /// Replays by (path, key): a key is only ever replayed for the same route.
    replays: HashMap<(String, String), Replay>,
    /// Ids, ICCIDs and activation delays; seeded so that runs repeat.
    rng: fastrand::Rng,
    time_scale: f64,
    pub counters: Counters,
}

impl State {
    pub fn new(plans: Vec<Plan>, seed: u64, time_scale: f64) -> State {
        let mut table = Table::default();
        for plan in plans {
            table.insert(plan.id.clone(), plan);
        }
        State {
            sims: Table::default(),
            sims_by_iccid: HashMap::new(),
            plans: table,
            users: Table::default(),
            users_by_email: HashMap::new(),
            subscriptions: Table::default(),
            replays: HashMap::new(),
            // A different stream from the fault knobs, so that adding a
            // fault flag does not change which ids a run hands out.
            rng: fastrand::Rng::with_seed(seed ^ 0x5EED_0001_u64),
            time_scale,
            counters: Counters::default(),
        }
    }

    /// Stocks one inactive pSIM; false when the ICCID is already stocked or is
    /// a placeholder's (the placeholder must stay what a search of it finds).
    pub fn stock_psim(&mut self, iccid: &str, provider: &str, retired: bool, now: Now) -> bool {
        if self.sims_by_iccid.contains_key(iccid) || Placeholder::by_iccid(iccid).is_some() {
            return false;
        }
        self.add_sim(iccid.to_owned(), "pSIM", provider.to_owned(), retired, now);
        true
    }

    fn add_sim(
        &mut self,
        iccid: String,
        sim_type: &'static str,
        provider: String,
        retired: bool,
        now: Now,
    ) -> usize {
        let sims = &self.sims;
        let id = fresh_id(&mut self.rng, "sim_", |id| sims.contains(id));
        let index = self.sims.insert(
            id.clone(),
            Sim {
                id,
                iccid: iccid.clone(),
                sim_type,
                provider,
                retired,
                created_at: rfc3339(now.wall),
                activates_at: None,
                user: None,
                subscription: None,
            },
        );
        self.sims_by_iccid.insert(iccid, index);
        index
    }

    pub fn replay(&self, path: &str, key: &str) -> Option<&Replay> {
        self.replays.get(&(path.to_owned(), key.to_owned()))
    }

    pub fn remember(&mut self, path: &str, key: &str, replay: Replay) {
        self.replays
            .entry((path.to_owned(), key.to_owned()))
            .or_insert(replay);
    }

    // --- SIMs -----------------------------------------------------------

    pub fn list_sims(&self, filter: &SimFilter, page: &Page, now: Now) -> Result<Value, ApiError> {
        let keep = |sim: &Sim| {
            filter
                .provider
                .as_ref()
                .map_or(true, |p| &sim.provider == p)
                && filter.sim_type.as_ref().map_or(true, |t| sim.sim_type == t)
                && filter
                    .user
                    .as_ref()
                    .map_or(true, |u| sim.user.as_ref() == Some(u))
                && filter
                    .statuses
                    .as_ref()
                    .map_or(true, |s| s.iter().any(|s| s == sim.status(now.instant)))
        };
        list_page(
            &self.sims,
            page,
            "SIM",
            keep,
            |s| &s.id,
            |s| s.to_json(now.instant),
        )
    }

    /// A stored SIM, or a placeholder (which is what a search of its ICCID
    /// hands out, so a client may well ask for it next).
    pub fn get_sim(&self, id: &str, now: Now) -> Result<Value, ApiError> {
        if let Some(sim) = self.sims.get(id) {
            return Ok(sim.to_json(now.instant));
        }
        Placeholder::by_id(id)
            .copied()
            .map(Placeholder::to_json)
            .ok_or_else(|| ApiError::not_found(format!("No SIM has the id {id:?}")))
    }

    /// `iccid` has passed the format check: 19 digits (maybe `F`-padded) or 20.
    pub fn search_sims(&self, iccid: &str, types: Option<&[String]>, now: Now) -> Value {
        let digits = iccid.trim_end_matches(['F', 'f']);
        let found = match Placeholder::by_iccid(digits) {
            Some(placeholder) => Some((placeholder.sim_type, placeholder.to_json())),
            None => self.sims_by_iccid.get(digits).map(|&i| {
                let sim = &self.sims.items[i];
                (sim.sim_type, sim.to_json(now.instant))
            }),
        };
        let items = found
            .filter(|(t, _)| types.map_or(true, |types| types.iter().any(|w| w == t)))
            .map(|(_, sim)| sim)
            .into_iter()
            .collect();
        list_json(items, None, None)
    }

    // --- Plans ----------------------------------------------------------

    pub fn list_plans(&self, filter: &PlanFilter, page: &Page) -> Result<Value, ApiError> {
        let keep = |plan: &Plan| {
            filter
                .provider
                .as_ref()
                .map_or(true, |p| &plan.provider == p)
                && filter.sim_type.as_ref().map_or(true, |t| plan.serves(t))
                && match &filter.statuses {
                    None => plan.is_available(),
                    Some(wanted) => wanted
                        .iter()
                        .any(|w| w == &plan.status || (w == "available" && plan.is_available())),
                }
        };
        list_page(
            &self.plans,
            page,
            "plan",
            keep,
            |p| &p.id,
            |p| p.body.clone(),
        )
    }

    pub fn get_plan(&self, id: &str) -> Result<Value, ApiError> {
        self.plans
            .get(id)
            .map(|p| p.body.clone())
            .ok_or_else(|| ApiError::not_found(format!("No plan has the id {id:?}")))
    }

    // --- Users ----------------------------------------------------------

    pub fn create_user(&mut self, new: NewUser, now: Now) -> Result<Value, ApiError> {
        // Emails are unique per project, compared without regard to case.
        let key = new.email.to_lowercase();
        if self.users_by_email.contains_key(&key) {
            return Err(ApiError::invalid_because(
                "userAlreadyExists",
                format!("A user with the email {:?} already exists", new.email),
            ));
        }
        let users = &self.users;
        let id = fresh_id(&mut self.rng, "usr_", |id| users.contains(id));
        let user = User {
            id: id.clone(),
            email: new.email,
            full_name: new.full_name,
            birthday: new.birthday,
            preferred_locale: new.preferred_locale.unwrap_or_else(|| "en-US".to_owned()),
            created_at: rfc3339(now.wall),
        };
        let body = user.to_json();
        let index = self.users.insert(id, user);
        self.users_by_email.insert(key, index);
        self.counters.users_created += 1;
        Ok(body)
    }

    pub fn search_users(&self, email: &str) -> Value {
        let items = self
            .users_by_email
            .get(&email.to_lowercase())
            .map(|&i| self.users.items[i].to_json())
            .into_iter()
            .collect();
        list_json(items, None, None)
    }

    pub fn get_user(&self, id: &str) -> Result<Value, ApiError> {
        self.users
            .get(id)
            .map(User::to_json)
            .ok_or_else(|| ApiError::not_found(format!("No user has the id {id:?}")))
    }

    // --- Subscriptions --------------------------------------------------

    /// Checks a create in the documented order, each check with its own
    /// error, and commits only when every check has passed.
    pub fn create_subscription(
        &mut self,
        new: NewSubscription,
        now: Now,
    ) -> Result<Value, ApiError> {
        let plan = self.plans.get(&new.plan).ok_or_else(|| {
            ApiError::invalid_because("planNotFound", format!("No plan has the id {:?}", new.plan))
        })?;
        if !plan.is_available() {
            return Err(ApiError::invalid_because(
                "planNotAvailable",
                format!("The plan {} is {}, not available", plan.id, plan.status),
            ));
        }
        if !self.users.contains(&new.user) {
            return Err(ApiError::invalid_because(
                "userNotFound",
                format!("No user has the id {:?}", new.user),
            ));
        }
        let candidate = match &new.sim {
            Some(id) => match (self.sims.position(id), Placeholder::by_id(id)) {
                (Some(index), _) => Candidate::Stored(index),
                (None, Some(placeholder)) => Candidate::Placeholder(placeholder),
                (None, None) => {
                    return Err(ApiError::invalid_because(
                        "simNotFound",
                        format!("No SIM has the id {id:?}"),
                    ))
                }
            },
            None if plan.serves("eSIM") => Candidate::NewEsim,
            None => {
                return Err(ApiError::invalid_because(
                    "simRequired",
                    format!("The plan {} serves no eSIM: `sim` is required", plan.id),
                ))
            }
        };
        let (sim_type, provider, retired, in_use) = match &candidate {
            Candidate::Stored(i) => {
                let sim = &self.sims.items[*i];
                (
                    sim.sim_type,
                    sim.provider.as_str(),
                    sim.retired,
                    sim.subscription.is_some(),
                )
            }
            Candidate::Placeholder(p) => (p.sim_type, "test", false, false),
            Candidate::NewEsim => ("eSIM", plan.provider.as_str(), false, false),
        };
        if !plan.serves(sim_type) {
            return Err(ApiError::invalid_because(
                "simTypeNotSupported",
                format!("The plan {} does not serve {sim_type}s", plan.id),
            ));
        }
        // Test SIMs pair with a plan of any provider.
        if provider != "test" && provider != plan.provider {
            return Err(ApiError::invalid_because(
                "simProviderMismatch",
                format!(
                    "The SIM's provider {provider} does not serve the plan {} of provider {}",
                    plan.id, plan.provider
                ),
            ));
        }
        if retired {
            return Err(ApiError::invalid_because(
                "simRetired",
                "The SIM is retired",
            ));
        }
        if in_use {
            return Err(ApiError::invalid_because(
                "simAlreadyUsed",
                "SIM already in use with an existing subscription",
            ));
        }
        if plan.address != "none" && new.user_address.is_none() {
            return Err(ApiError::invalid_because(
                "userAddressRequired",
                format!("The plan {} requires a userAddress", plan.id),
            ));
        }
        let plan_provider = plan.provider.clone();
        let plan_body = plan.body.clone();
        self.commit_subscription(new, candidate, plan_provider, plan_body, now)
    }

    fn commit_subscription(
        &mut self,
        new: NewSubscription,
        candidate: Candidate,
        plan_provider: String,
        plan_body: Value,
        now: Now,
    ) -> Result<Value, ApiError> {
        let (sim_index, delay) = match candidate {
            // An inventory pSIM activates at once: the emulator does not
            // model the network's activation time.
            Candidate::Stored(index) => (index, Some(Duration::ZERO)),
            Candidate::NewEsim => {
                let iccid = self.fresh_iccid("89", 17);
                let index = self.add_sim(iccid, "eSIM", plan_provider, false, now);
                (index, Some(Duration::ZERO))
            }
            Candidate::Placeholder(placeholder) => {
                let iccid = self.fresh_iccid(TEST_ICCID_PREFIX, 10);
                let index =
                    self.add_sim(iccid, placeholder.sim_type, "test".to_owned(), false, now);
                (index, self.activation_delay(placeholder.activation))
            }
        };
        let activates_at = delay.and_then(|d| now.instant.checked_add(d));
        let activated_wall = delay.and_then(|d| now.wall.checked_add(d));
        let subscriptions = &self.subscriptions;
        let id = fresh_id(&mut self.rng, "sub_", |id| subscriptions.contains(id));
        let phone_number = format!("+1555{:07}", self.subscriptions.len() % 10_000_000);
        let sim = &mut self.sims.items[sim_index];
        sim.activates_at = activates_at;
        sim.user = Some(new.user.clone());
        sim.subscription = Some(id.clone());
        let subscription = Subscription {
            id: id.clone(),
            plan: new.plan,
            user: new.user,
            sim: sim.id.clone(),
            phone_number,
            user_address: new.user_address,
            created_at: rfc3339(now.wall),
            activates_at,
            activated_wall,
        };
        let body = self.embedded(&subscription, Some(plan_body), now);
        self.subscriptions.insert(id, subscription);
        self.counters.subscriptions_created += 1;
        Ok(body)
    }

    /// The delay of a placeholder, scaled by `--time-scale`; `None` when it is
    /// too long to represent (the subscription then stays pending).
    fn activation_delay(&mut self, activation: Activation) -> Option<Duration> {
        let base = match activation {
            Activation::Immediate => return Some(Duration::ZERO),
            Activation::After(d) => d.as_secs_f64(),
            Activation::Between(lo, hi) => {
                let (lo, hi) = (lo.as_secs_f64(), hi.as_secs_f64());
                lo + self.rng.f64() * (hi - lo)
            }
        };
        Duration::try_from_secs_f64(base * self.time_scale).ok()
    }

    /// A new ICCID: `prefix`, then `random` random digits (then a Luhn check
    /// digit for non-test ICCIDs, which must look like real ones), unused so far.
    fn fresh_iccid(&mut self, prefix: &str, random: usize) -> String {
        loop {
            let mut iccid = prefix.to_owned();
            iccid.extend((0..random).map(|_| self.rng.digit(10)));
            if prefix != TEST_ICCID_PREFIX {
                let check = crate::iccid::luhn_check_digit(iccid.as_bytes());
                iccid.push(char::from(b'0' + check));
            }
            if !self.sims_by_iccid.contains_key(&iccid) && Placeholder::by_iccid(&iccid).is_none() {
                return iccid;
            }
        }
    }

    /// A subscription with `plan`, `sim` and `user` embedded, as the API answers.
    fn embedded(&self, sub: &Subscription, plan: Option<Value>, now: Now) -> Value {
        let plan = plan
            .or_else(|| self.plans.get(&sub.plan).map(|p| p.body.clone()))
            .unwrap_or_else(|| Value::from(sub.plan.clone()));
        let sim = self
            .sims
            .get(&sub.sim)
            .map_or_else(|| Value::from(sub.sim.clone()), |s| s.to_json(now.instant));
        let user = self
            .users
            .get(&sub.user)
            .map_or_else(|| Value::from(sub.user.clone()), User::to_json);
        sub.to_json(now.instant, plan, sim, user)
    }

    pub fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
        page: &Page,
        now: Now,
    ) -> Result<Value, ApiError> {
        let keep = |sub: &Subscription| {
            let status = sub.status(now.instant);
            filter.sim.as_ref().map_or(true, |s| &sub.sim == s)
                && filter.user.as_ref().map_or(true, |u| &sub.user == u)
                && filter.plan.as_ref().map_or(true, |p| &sub.plan == p)
                && match &filter.statuses {
                    None => matches!(status, "pending" | "active"),
                    Some(wanted) => wanted.iter().any(|w| w == status),
                }
        };
        list_page(
            &self.subscriptions,
            page,
            "subscription",
            keep,
            |s| &s.id,
            |s| self.embedded(s, None, now),
        )
    }

    pub fn get_subscription(&self, id: &str, now: Now) -> Result<Value, ApiError> {
        self.subscriptions
            .get(id)
            .map(|s| self.embedded(s, None, now))
            .ok_or_else(|| ApiError::not_found(format!("No subscription has the id {id:?}")))
    }

    // --- Inspection -----------------------------------------------------

    /// `GET /_emulator/state`: every record in creation order, subscriptions
    /// with `plan`, `sim` and `user` as ids, and the counters.
    pub fn to_json(&self, now: Now) -> Value {
        let sims: Vec<Value> = self.sims.iter().map(|s| s.to_json(now.instant)).collect();
        let plans: Vec<Value> = self.plans.iter().map(|p| p.body.clone()).collect();
        let users: Vec<Value> = self.users.iter().map(User::to_json).collect();
        let subscriptions: Vec<Value> = self
            .subscriptions
            .iter()
            .map(|s| {
                s.to_json(
                    now.instant,
                    Value::from(s.plan.clone()),
                    Value::from(s.sim.clone()),
                    Value::from(s.user.clone()),
                )
            })
            .collect();
        let mut out = Map::new();
        out.insert("sims".to_owned(), Value::from(sims));
        out.insert("plans".to_owned(), Value::from(plans));
        out.insert("users".to_owned(), Value::from(users));
        out.insert("subscriptions".to_owned(), Value::from(subscriptions));
        out.insert("counters".to_owned(), self.counters.to_json());
        Value::Object(out)
    }
}

/// A prefixed id of 24 base-62 characters, like the API's, not yet `taken`.
fn fresh_id(rng: &mut fastrand::Rng, prefix: &str, taken: impl Fn(&str) -> bool) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    loop {
        let mut id = prefix.to_owned();
        id.extend((0..24).map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())])));
        if !taken(&id) {
            return id;
        }
    }
}
