//! The emulated project: its SIMs, plans, users, addresses and subscriptions,
//! the rules that change them, and the counters the inspection route reports.
//! The records are in `records`, list pages in `table`, the subscription
//! create in `subscribe`, user addresses in `addresses`, and the
//! `Idempotency-Key` cache in `replays`.
//!
//! Everything here is plain data behind one mutex (held by the server), so a
//! rule such as "a SIM has at most one live subscription" holds simply because
//! no two requests ever see the state at once. Nothing in this file knows
//! about HTTP: it takes parsed parameters and answers JSON or an [`ApiError`].
//!
//! Statuses that change with time (a delayed test SIM turning active) are not
//! driven by timers: each record keeps the instant it activates at, and its
//! status is computed whenever it is read.

mod addresses;
mod records;
mod replays;
mod subscribe;
mod table;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::catalogue::{Placeholder, Plan};
use super::clock::rfc3339;
use super::error::ApiError;

pub use self::records::{AddressFields, Condition};
pub use self::replays::Replay;
pub use self::table::{list_json, Cursor, Page};

use self::records::{Address, PackedIccid, Sim, SimShown, Subscription, User};
use self::replays::Replays;
use self::table::{Lister, Scope, Table};

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

/// A list object whose items are written without a `Value` each.
#[derive(serde::Serialize)]
struct ListShown<'a> {
    object: &'static str,
    items: Vec<SimShown<'a>>,
    #[serde(rename = "moreItemsAfter")]
    more_items_after: Option<String>,
    #[serde(rename = "moreItemsBefore")]
    more_items_before: Option<String>,
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
    pub addresses_created: u64,
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
            "addressesCreated": self.addresses_created,
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
    /// The id of one of the user's addresses.
    pub user_address: Option<String>,
}

pub struct State {
    sims: Table<Sim>,
    sims_by_iccid: HashMap<PackedIccid, u32>,
    plans: Table<Plan>,
    users: Table<User>,
    users_by_email: HashMap<String, usize>,
    addresses: Table<Address>,
    /// Positions in `addresses` of each user's addresses, oldest first.
    addresses_by_user: HashMap<String, Vec<usize>>,
    subscriptions: Table<Subscription>,
    /// Positions in `subscriptions` of each SIM's subscriptions, oldest
    /// first: the `sim` filter reads these instead of every subscription.
    subscriptions_by_sim: HashMap<String, Vec<usize>>,
    /// The same by user, for the `user` filter.
    subscriptions_by_user: HashMap<String, Vec<usize>>,
    /// Positions in `sims` of the SIMs each user has a subscription on,
    /// ascending, for the `user` filter of `GET sims`.
    sims_by_user: HashMap<String, Vec<usize>>,
    replays: Replays,
    /// Interned provider names: a million SIMs share a handful of them.
    providers: Vec<Arc<str>>,
    /// Ids, ICCIDs and activation delays; seeded so that runs repeat.
    rng: fastrand::Rng,
    time_scale: f64,
    pub counters: Counters,
}

impl State {
    pub fn new(plans: Vec<Plan>, seed: u64, time_scale: f64) -> State {
        let mut table = Table::default();
        for plan in plans {
            let id = plan.id.clone();
            table.insert(&id, plan);
        }
        State {
            sims: Table::default(),
            sims_by_iccid: HashMap::new(),
            plans: table,
            users: Table::default(),
            users_by_email: HashMap::new(),
            addresses: Table::default(),
            addresses_by_user: HashMap::new(),
            subscriptions: Table::default(),
            subscriptions_by_sim: HashMap::new(),
            subscriptions_by_user: HashMap::new(),
            sims_by_user: HashMap::new(),
            replays: Replays::default(),
            providers: Vec::new(),
            // A different stream from the fault knobs, so that adding a
            // fault flag does not change which ids a run hands out.
            rng: fastrand::Rng::with_seed(seed ^ 0x5EED_0001_u64),
            time_scale,
            counters: Counters::default(),
        }
    }

    /// Stocks one pSIM (inactive, unless retired or deleted); false when the
    /// ICCID is already stocked or is a placeholder's (the placeholder must
    /// stay what a search of it finds).
    pub fn stock_psim(
        &mut self,
        iccid: &str,
        provider: &str,
        condition: Condition,
        now: Now,
    ) -> bool {
        let Some(packed) = PackedIccid::pack(iccid) else {
            return false;
        };
        if self.sims_by_iccid.contains_key(&packed) || Placeholder::by_iccid(iccid).is_some() {
            return false;
        }
        self.add_sim(packed, "pSIM", provider, condition, now);
        true
    }

    /// Room for `more` SIMs, before a large stock.
    pub fn reserve_sims(&mut self, more: usize) {
        self.sims.reserve(more);
        self.sims_by_iccid.reserve(more);
    }

    fn add_sim(
        &mut self,
        iccid: PackedIccid,
        sim_type: &'static str,
        provider: &str,
        condition: Condition,
        now: Now,
    ) -> usize {
        let sims = &self.sims;
        let id = fresh_id(&mut self.rng, "sim_", |id| sims.contains(id));
        let provider = match self.providers.iter().find(|p| &***p == provider) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = provider.into();
                self.providers.push(Arc::clone(&shared));
                shared
            }
        };
        let sim = Sim {
            id: id.as_str().into(),
            iccid,
            sim_type,
            provider,
            condition,
            created_at: now.wall,
            activates_at: None,
            user: None,
            subscription: None,
        };
        let index = self.sims.insert(&id, sim);
        self.sims_by_iccid.insert(iccid, index as u32);
        index
    }

    pub fn replay(&self, path: &str, key: &str, now: Instant) -> Option<&Replay> {
        self.replays.get(path, key, now)
    }

    pub fn remember(&mut self, path: &str, key: &str, replay: Replay, now: Instant) {
        self.replays.insert(path, key, replay, now);
    }

    // --- SIMs -----------------------------------------------------------

    /// `GET sims`, written straight to bytes: at a million SIMs this is the
    /// list that is paged the most, and a `Value` per SIM would be most of
    /// its cost.
    pub fn list_sims(
        &self,
        filter: &SimFilter,
        page: &Page,
        now: Now,
    ) -> Result<Vec<u8>, ApiError> {
        let keep = |sim: &Sim| {
            filter
                .provider
                .as_ref()
                .map_or(true, |p| &*sim.provider == p)
                && filter.sim_type.as_ref().map_or(true, |t| sim.sim_type == t)
                && filter
                    .user
                    .as_ref()
                    .map_or(true, |u| sim.user.as_deref() == Some(u.as_str()))
                && filter
                    .statuses
                    .as_ref()
                    .map_or(true, |s| s.iter().any(|s| s == sim.status(now.instant)))
        };
        let lister = Lister {
            table: &self.sims,
            what: "SIM",
            keep,
            id_of: |s: &Sim| &*s.id,
            render: |s: &Sim| s.to_json(now.instant),
        };
        let scope = match &filter.user {
            None => Scope::All,
            Some(user) => Scope::Only(self.sims_by_user.get(user).map_or(&[][..], Vec::as_slice)),
        };
        let cut = lister.cut(scope, page)?;
        let list = ListShown {
            object: "list",
            items: cut
                .records
                .iter()
                .map(|&i| self.sims.items[i].shown(now.instant))
                .collect(),
            more_items_after: cut.after,
            more_items_before: cut.before,
        };
        // Serialising strings and numbers cannot fail; an empty body would
        // be the answer if it ever did.
        Ok(serde_json::to_vec(&list).unwrap_or_default())
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
            None => PackedIccid::pack(digits)
                .and_then(|packed| self.sims_by_iccid.get(&packed))
                .map(|&i| {
                    let sim = &self.sims.items[i as usize];
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
        let lister = Lister {
            table: &self.plans,
            what: "plan",
            keep,
            id_of: |p: &Plan| p.id.as_str(),
            render: |p: &Plan| p.body.clone(),
        };
        lister.page(Scope::All, page)
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
        let index = self.users.insert(&id, user);
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

    /// `GET users`: every user of the project, newest first (no filter).
    pub fn list_users(&self, page: &Page) -> Result<Value, ApiError> {
        let lister = Lister {
            table: &self.users,
            what: "user",
            keep: |_: &User| true,
            id_of: |u: &User| u.id.as_str(),
            render: User::to_json,
        };
        lister.page(Scope::All, page)
    }

    pub fn get_user(&self, id: &str) -> Result<Value, ApiError> {
        self.users
            .get(id)
            .map(User::to_json)
            .ok_or_else(|| ApiError::not_found(format!("No user has the id {id:?}")))
    }

    // --- Inspection -----------------------------------------------------

    /// `GET /_emulator/state`: every record in creation order, subscriptions
    /// with `plan`, `sim` and `user` as ids, and the counters.
    pub fn to_json(&self, now: Now) -> Value {
        let sims: Vec<Value> = self.sims.iter().map(|s| s.to_json(now.instant)).collect();
        let plans: Vec<Value> = self.plans.iter().map(|p| p.body.clone()).collect();
        let users: Vec<Value> = self.users.iter().map(User::to_json).collect();
        let addresses: Vec<Value> = self.addresses.iter().map(Address::to_json).collect();
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
        out.insert("addresses".to_owned(), Value::from(addresses));
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
