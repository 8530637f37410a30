//! Onboarding one valid manifest row: resolve the SIM, pair a plan, pair a
//! user, subscribe. Every row ends in exactly one [`RowResult`]; a row's
//! failure is a [`Failure`] with a stable snake_case code and a message that
//! says what to do, and never stops the batch. Only a token the API refuses in
//! mid-run ([`Stop`]) does.
//!
//! A plan's requirements are checked against the row and its user in
//! `requirements` (flat dotted keys; nothing is sent for a demand the row
//! cannot meet), and a required address becomes one of the user's addresses
//! in `address`, before the subscription is created with its id.
//!
//! What the whole run shares lives in [`Onboarder`]: the plan catalogue (listed
//! once per run), and caches that make each email, user id and plan id cost
//! one lookup per run, however many rows name it and however many run at once
//! (a per-key lock: the first row resolves, the others wait for it). Only
//! definitive answers are kept: after a transient failure the next row asks
//! again.
//!
//! Creates are made safe to retry without help from the server: when a
//! subscription create may have landed although no success came back, the
//! SIM's subscriptions are looked up (and a `simAlreadyUsed` answer is always
//! looked up); when a user create may have landed, its email is searched.
//! Only when nothing is found is the create sent again (the client never
//! re-sends such a create by itself; see [`crate::gigs::client`]), within
//! the same `--max-retries` budget.

mod address;
mod requirements;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::gigs::client::{cut, NextTry};
use crate::gigs::types::{Address, NewSubscription, NewUser, Plan, Sim, Subscription, User};
use crate::gigs::{Client, Error};
use crate::results::Outcome;
use crate::snapshot::Snapshot;
use address::Addresses;
use requirements::{asks_of_user, unmet, Holder};

/// Why a valid row could not be onboarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    SimNotFound,
    SimNotPsim {
        sim_type: String,
    },
    SimRetired,
    /// A SIM status other than `inactive`, `active` or `retired`.
    SimUnusable {
        status: String,
    },
    SimInUse {
        subscription: String,
        plan: String,
        user: String,
        status: String,
    },
    PlanAmbiguous {
        candidates: Vec<String>,
    },
    NoCompatiblePlan {
        provider: String,
    },
    PlanIncompatible {
        plan: String,
        why: String,
    },
    PlanNotFound {
        plan: String,
    },
    PlanRequiresAddress {
        plan: String,
        missing: Vec<&'static str>,
    },
    /// `existing` names the user when it exists (and lacks the field).
    PlanRequiresFullName {
        plan: String,
        existing: Option<String>,
    },
    PlanRequiresBirthday {
        plan: String,
        existing: Option<String>,
    },
    PlanRequiresDevice {
        plan: String,
    },
    /// The `birthday` cell is not a date written `YYYY-MM-DD`.
    InvalidBirthday {
        value: String,
    },
    /// The row's address is not valid: its country, or the API said so.
    AddressInvalid {
        message: String,
    },
    UserMissing,
    UserNotFound {
        user: String,
    },
    /// Retries exhausted, or an answer simboard did not expect.
    Api(String),
}

impl Failure {
    /// The plan a requirement failure names, to name more than one.
    fn plan_mut(&mut self) -> Option<&mut String> {
        match self {
            Failure::PlanRequiresAddress { plan, .. }
            | Failure::PlanRequiresFullName { plan, .. }
            | Failure::PlanRequiresBirthday { plan, .. }
            | Failure::PlanRequiresDevice { plan } => Some(plan),
            _ => None,
        }
    }

    /// The stable reason code for the result CSV.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::SimNotFound => "sim_not_found",
            Failure::SimNotPsim { .. } => "sim_not_psim",
            Failure::SimRetired => "sim_retired",
            Failure::SimUnusable { .. } => "sim_unusable",
            Failure::SimInUse { .. } => "sim_in_use",
            Failure::PlanAmbiguous { .. } => "plan_ambiguous",
            Failure::NoCompatiblePlan { .. } => "no_compatible_plan",
            Failure::PlanIncompatible { .. } => "plan_incompatible",
            Failure::PlanNotFound { .. } => "plan_not_found",
            Failure::PlanRequiresAddress { .. } => "plan_requires_address",
            Failure::PlanRequiresFullName { .. } => "plan_requires_full_name",
            Failure::PlanRequiresBirthday { .. } => "plan_requires_birthday",
            Failure::PlanRequiresDevice { .. } => "plan_requires_device",
            Failure::InvalidBirthday { .. } => "invalid_birthday",
            Failure::AddressInvalid { .. } => "address_invalid",
            Failure::UserMissing => "user_missing",
            Failure::UserNotFound { .. } => "user_not_found",
            Failure::Api(_) => "api_error",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::SimNotFound => f.write_str(
                "no SIM with this ICCID in the project; a pSIM must first be associated \
                 with the project by Gigs (ask Gigs support to add the supplier's batch)",
            ),
            Failure::SimNotPsim { sim_type } => write!(
                f,
                "the SIM is an {sim_type}, not a physical SIM; eSIMs are provisioned on demand, \
                 not onboarded from a manifest"
            ),
            Failure::SimRetired => f.write_str("the SIM is retired and cannot be used again"),
            Failure::SimUnusable { status } => write!(
                f,
                "the SIM's status is {}; only an inactive or active SIM can be subscribed",
                if status.is_empty() {
                    "not given"
                } else {
                    status
                }
            ),
            Failure::SimInUse {
                subscription,
                plan,
                user,
                status,
            } => write!(
                f,
                "the SIM is already used by subscription {subscription} ({status}, plan {plan}, \
                 user {user}), which is not the plan and user this row asks for"
            ),
            Failure::PlanAmbiguous { candidates } => write!(
                f,
                "{} plans fit this SIM: {}; choose one with --plan or a plan column",
                candidates.len(),
                candidates.join(", ")
            ),
            Failure::NoCompatiblePlan { provider } => write!(
                f,
                "no available plan of the project supports pSIMs of provider {provider}"
            ),
            Failure::PlanIncompatible { plan, why } => {
                write!(f, "plan {plan} does not fit this SIM: {why}")
            }
            Failure::PlanNotFound { plan } => {
                write!(f, "plan {plan} does not exist in the project")
            }
            Failure::PlanRequiresAddress { .. }
            | Failure::PlanRequiresFullName { .. }
            | Failure::PlanRequiresBirthday { .. }
            | Failure::PlanRequiresDevice { .. } => self.fmt_requirement(f),
            Failure::InvalidBirthday { value } => write!(
                f,
                "birthday {value:?} is not a date written YYYY-MM-DD; correct the birthday column"
            ),
            Failure::AddressInvalid { message } => {
                write!(f, "the row's address is not valid: {message}")
            }
            Failure::UserMissing => {
                f.write_str("no user for this row: give a user or email column, or --user")
            }
            Failure::UserNotFound { user } => {
                write!(f, "user {user} does not exist in the project")
            }
            Failure::Api(message) => f.write_str(message),
        }
    }
}

impl Failure {
    /// The message of a plan requirement the row cannot meet.
    fn fmt_requirement(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::PlanRequiresAddress { plan, missing } => {
                write!(f, "plan {plan} requires the user's address")?;
                if missing.is_empty() {
                    f.write_str("; fill the address_* columns")
                } else {
                    write!(f, "; the row lacks {}", missing.join(", "))
                }
            }
            Failure::PlanRequiresFullName { plan, existing } => {
                write!(f, "plan {plan} requires the user's full name")?;
                lacking(f, existing, "the full_name column")
            }
            Failure::PlanRequiresBirthday { plan, existing } => {
                write!(f, "plan {plan} requires the user's birthday")?;
                lacking(f, existing, "the birthday column (YYYY-MM-DD)")
            }
            Failure::PlanRequiresDevice { plan } => write!(
                f,
                "plan {plan} requires a device, which a manifest cannot give; choose another plan"
            ),
            _ => Ok(()),
        }
    }
}

/// The end of a "plan requires the user's …" message: what to fill, or that
/// the existing user lacks it.
fn lacking(f: &mut fmt::Formatter<'_>, existing: &Option<String>, column: &str) -> fmt::Result {
    match existing {
        Some(user) => write!(
            f,
            "; user {user} has none, and simboard does not edit existing users: \
             add it to the user, or onboard the row for another user"
        ),
        None => write!(f, "; fill {column}"),
    }
}

/// The whole run must stop. The row is not finished, and `--resume` runs it
/// again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The run was interrupted (Ctrl-C) while the row waited.
    #[error("interrupted")]
    Interrupted,
    /// The API refused the token (401/403) in mid-run; the API's answer.
    #[error(
        "the API refused the token in mid-run ({0}); check GIGS_TOKEN and run again \
         with --resume"
    )]
    TokenRefused(String),
}

/// How a step ends early: the row fails, or the run stops.
#[derive(Clone, Debug)]
enum Step {
    Fail(Failure),
    Stop(Stop),
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Step::Fail(failure)
    }
}

impl From<Error> for Step {
    fn from(err: Error) -> Self {
        if err.is_interrupted() {
            Step::Stop(Stop::Interrupted)
        } else if err.is_auth() {
            Step::Stop(Stop::TokenRefused(err.to_string()))
        } else {
            Step::Fail(Failure::Api(err.to_string()))
        }
    }
}

/// One row, as onboarding needs it. Empty cells are `None`.
#[derive(Clone, Debug, Default)]
pub struct RowRequest {
    pub iccid: String,
    pub plan: Option<String>,
    pub user: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`, for a user simboard creates.
    pub birthday: Option<String>,
    pub address: AddressCells,
}

/// The address_* cells of a row, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressCells {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

impl AddressCells {
    /// The address, when the required parts (line 1, city, country) are all
    /// there; else the names of the missing columns.
    pub fn address(&self) -> Result<Address, Vec<&'static str>> {
        let mut missing = Vec::new();
        for (cell, name) in [
            (&self.line1, "address_line1"),
            (&self.city, "address_city"),
            (&self.country, "address_country"),
        ] {
            if cell.is_none() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Address {
            line1: self.line1.clone().unwrap_or_default(),
            line2: self.line2.clone(),
            city: self.city.clone().unwrap_or_default(),
            postal_code: self.postal_code.clone(),
            state: self.state.clone(),
            country: self
                .country
                .clone()
                .unwrap_or_default()
                .to_ascii_uppercase(),
        })
    }
}

/// What happened to one row, ready for the result CSV.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowResult {
    pub outcome: Option<Outcome>,
    pub reason: &'static str,
    pub message: String,
    pub sim_id: String,
    pub plan_id: String,
    pub user_id: String,
    pub subscription_id: String,
}

impl RowResult {
    fn success(outcome: Outcome, message: String, sub: &Subscription, sim: &Sim) -> Self {
        // The subscription names the SIM it serves: for a test placeholder that
        // is the new test SIM Gigs made from it, not the placeholder.
        let sim_id = match sub.sim_id() {
            "" => sim.id.clone(),
            served => served.to_owned(),
        };
        let message = if sim_id == sim.id {
            message
        } else {
            format!(
                "{message}, on test SIM {sim_id} made from placeholder {}",
                sim.id
            )
        };
        RowResult {
            outcome: Some(outcome),
            reason: "",
            message,
            sim_id,
            plan_id: sub.plan_id().to_owned(),
            user_id: sub.user_id().to_owned(),
            subscription_id: sub.id.clone(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Failed)
    }
}

/// Settings of the run that onboarding reads.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub project: String,
    /// `--plan`.
    pub plan: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    pub dry_run: bool,
    pub idempotency_keys: bool,
}

/// A map of answers per key, computed by one thread at a time per key (the
/// others wait for it) and kept for the run only when definitive: a
/// transient failure (retries exhausted) is not kept, so the next row that
/// needs the key asks again instead of failing at once.
struct OnceMap<T> {
    cells: Mutex<HashMap<String, Slot<T>>>,
}

type Answer<T> = Result<T, Step>;
/// A key's answer, once there is a definitive one.
type Slot<T> = Arc<Mutex<Option<Answer<T>>>>;

impl<T: Clone> OnceMap<T> {
    fn new() -> Self {
        OnceMap {
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn get_or_init(&self, key: &str, init: impl FnOnce() -> Answer<T>) -> Answer<T> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(cells.entry(key.to_owned()).or_default())
        };
        // Held while `init` runs: one request at a time per key.
        let mut slot = cell.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(answer) = &*slot {
            return answer.clone();
        }
        let answer = init();
        if is_definitive(&answer) {
            *slot = Some(answer.clone());
        }
        answer
    }

    /// Keeps `value` for `key`, over what was kept: a create has just
    /// changed the answer.
    fn put(&self, key: &str, value: T) {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(cells.entry(key.to_owned()).or_default())
        };
        *cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ok(value));
    }
}

/// A success, or a failure that another try would not change (not found, a
/// plan that does not fit, ...). `api_error` and a stopped run are not.
fn is_definitive<T>(answer: &Answer<T>) -> bool {
    match answer {
        Ok(_) => true,
        Err(Step::Fail(Failure::Api(_))) | Err(Step::Stop(_)) => false,
        Err(Step::Fail(_)) => true,
    }
}

/// What every row of a run shares.
pub struct Onboarder {
    client: Client,
    settings: Settings,
    /// The project's available plans, listed once by the preflight.
    catalogue: Vec<Plan>,
    plans: OnceMap<Plan>,
    users: OnceMap<User>,
    searched: OnceMap<Option<User>>,
    created: OnceMap<User>,
    addresses: Addresses,
    /// The project read before the first row (`--resolve`), if it was.
    snapshot: Option<Arc<Snapshot>>,
}

/// The user a row goes to.
enum UserPick {
    Known(User),
    /// Nobody has this email yet: the user is to be created.
    New {
        email: String,
    },
}

impl Onboarder {
    pub fn new(client: Client, settings: Settings, catalogue: Vec<Plan>) -> Self {
        Onboarder {
            client,
            settings,
            catalogue,
            plans: OnceMap::new(),
            users: OnceMap::new(),
            searched: OnceMap::new(),
            created: OnceMap::new(),
            addresses: Addresses::new(),
            snapshot: None,
        }
    }

    /// Rows are resolved from `snapshot` where it has the answer.
    pub fn with_snapshot(mut self, snapshot: Option<Arc<Snapshot>>) -> Self {
        self.snapshot = snapshot;
        self
    }

    /// Onboards one row whose ICCID is valid.
    pub fn onboard(&self, row: &RowRequest) -> Result<RowResult, Stop> {
        let mut partial = RowResult::default();
        match self.steps(row, &mut partial) {
            Ok(done) => Ok(done),
            Err(Step::Stop(stop)) => Err(stop),
            Err(Step::Fail(failure)) => Ok(RowResult {
                outcome: Some(Outcome::Failed),
                reason: failure.code(),
                message: failure.to_string(),
                ..partial
            }),
        }
    }

    fn steps(&self, row: &RowRequest, ids: &mut RowResult) -> Result<RowResult, Step> {
        requirements::check_cells(row)?;
        let sim = self.resolve(&row.iccid)?;
        ids.sim_id = sim.id.clone();
        usable(&sim)?;
        // An active SIM is in use; an inactive one may still have a pending
        // subscription, which the create reports as `simAlreadyUsed`. A dry
        // run creates nothing, so it looks for every SIM.
        if sim.status == "active" || self.settings.dry_run {
            if let Some(existing) = self.subscriptions_before(&sim)?.into_iter().next() {
                return self.judge_existing(row, &sim, &existing);
            }
        }
        // The plan is one whose requirements the row and its user meet.
        let plan = self.pair_plan(row, &sim)?;
        ids.plan_id = plan.id.clone();
        let user = self.pick_user(row)?;
        if self.settings.dry_run {
            let mut done = would_onboard(&plan, &user, ids);
            if let Some(note) = self.address_note(row, &plan, &user)? {
                done.message.push_str(&note);
            }
            return Ok(done);
        }
        let user = match user {
            UserPick::Known(user) => user,
            UserPick::New { email } => {
                let user = self.create_user(&email, row)?;
                // Later rows with this email find the user without asking.
                self.searched.put(&email_key(&email), Some(user.clone()));
                // Another row, or someone else, may have made this user
                // first, without what the plan requires.
                if let Some(failure) = unmet(&plan, row, &Holder::Existing(&user)) {
                    ids.user_id = user.id.clone();
                    return Err(failure.into());
                }
                user
            }
        };
        ids.user_id = user.id.clone();
        let address = match row.address.address() {
            Ok(address) if plan.requires_address() => {
                Some(
                    self.addresses
                        .ensure(&self.client, &self.settings, &user.id, &address)?,
                )
            }
            // pair_plan made sure the row has an address where one is needed.
            _ => None,
        };
        self.subscribe(row, &sim, &plan, &user, address.as_deref())
    }

    /// Step 2: find the SIM by its ICCID. Only a SIM with the row's ICCID
    /// will do: whatever else a search returns is not this row's SIM.
    fn resolve(&self, iccid: &str) -> Result<Sim, Step> {
        if let Some(sim) = self.snapshot.as_ref().and_then(|s| s.sim(iccid)) {
            return Ok(sim);
        }
        let found = self.client.search_sims(iccid)?;
        let sim = found
            .into_iter()
            .find(|sim| same_iccid(&sim.iccid, iccid))
            .ok_or(Failure::SimNotFound)?;
        Ok(sim)
    }

    /// The SIM's live subscriptions before a create: none when the snapshot
    /// says so (a create settles any taken since: `simAlreadyUsed`), else
    /// looked up. A SIM the snapshot shows held is looked up afresh too, so
    /// that nothing stale decides its row (`already_onboarded`, `sim_in_use`).
    /// (After a create fails they are always looked up.)
    fn subscriptions_before(&self, sim: &Sim) -> Result<Vec<Subscription>, Step> {
        match self
            .snapshot
            .as_ref()
            .and_then(|s| s.live_subscriptions(sim))
        {
            Some(subs) if subs.is_empty() => Ok(subs),
            _ => self.live_subscriptions(sim),
        }
    }

    /// The SIM's live subscriptions, each checked (by the client) to name
    /// this SIM, from every page.
    fn live_subscriptions(&self, sim: &Sim) -> Result<Vec<Subscription>, Step> {
        Ok(self.client.sim_subscriptions(&sim.id)?)
    }

    /// A SIM that already has a subscription: is it the one this row asks for?
    fn judge_existing(
        &self,
        row: &RowRequest,
        sim: &Sim,
        existing: &Subscription,
    ) -> Result<RowResult, Step> {
        if self.wants(row, sim, existing)? {
            let message = format!(
                "subscription {} ({}) already has this plan and user",
                existing.id, existing.status
            );
            return Ok(RowResult::success(
                Outcome::AlreadyOnboarded,
                message,
                existing,
                sim,
            ));
        }
        Err(Failure::SimInUse {
            subscription: existing.id.clone(),
            plan: existing.plan_id().to_owned(),
            user: existing.user_id().to_owned(),
            status: existing.status.clone(),
        }
        .into())
    }

    /// True when `sub` has the plan and user this row would pair, found
    /// without creating anything.
    /// A plan the row names is compared by id alone: a subscription that
    /// exists already needs none of the plan's requirements met again.
    fn wants(&self, row: &RowRequest, sim: &Sim, sub: &Subscription) -> Result<bool, Step> {
        let plan_id = match row.plan.as_ref().or(self.settings.plan.as_ref()) {
            Some(named) => named.clone(),
            None => match self.pair_plan(row, sim) {
                Ok(plan) => plan.id,
                // A transient failure decides nothing: the row is an
                // `api_error`, run again by --resume, never `sim_in_use`.
                Err(Step::Fail(Failure::Api(err))) => return Err(Step::Fail(Failure::Api(err))),
                Err(Step::Fail(_)) => return Ok(false),
                Err(stop) => return Err(stop),
            },
        };
        if plan_id != sub.plan_id() {
            return Ok(false);
        }
        let by_email = row.user.is_none();
        match self.pick_user(row) {
            Ok(UserPick::Known(user)) if user.id == sub.user_id() => Ok(true),
            Ok(UserPick::Known(_)) if !by_email => Ok(false),
            // What this run knows of the email (nobody has it, or another
            // user) says otherwise than the subscription: another run may
            // have created the user since. Look again, now.
            Ok(UserPick::Known(_)) | Ok(UserPick::New { .. }) => {
                let Some(email) = &row.email else {
                    return Ok(false);
                };
                self.fresh_look(email, sub)
            }
            Err(Step::Fail(Failure::Api(err))) => Err(Step::Fail(Failure::Api(err))),
            Err(Step::Fail(_)) => Ok(false),
            Err(stop) => Err(stop),
        }
    }

    /// Searches `email` afresh: true when its user holds `sub`. What is
    /// found is kept for the rows after.
    fn fresh_look(&self, email: &str, sub: &Subscription) -> Result<bool, Step> {
        match self.find_email(email)? {
            Some(user) => {
                let wanted = user.id == sub.user_id();
                self.searched.put(&email_key(email), Some(user));
                Ok(wanted)
            }
            None => Ok(false),
        }
    }

    /// Step 3: the row's plan column, else `--plan`, else automatic pairing.
    /// Either way the plan must fit the SIM, and the row and its user must
    /// meet the plan's requirements.
    fn pair_plan(&self, row: &RowRequest, sim: &Sim) -> Result<Plan, Step> {
        if let Some(id) = row.plan.as_ref().or(self.settings.plan.as_ref()) {
            let plan = self.plan(id)?;
            if let Some(why) = misfit(&plan, sim) {
                return Err(Failure::PlanIncompatible {
                    plan: plan.label(),
                    why,
                }
                .into());
            }
            return match self.cannot_meet(&plan, row)? {
                Some(failure) => Err(failure.into()),
                None => Ok(plan),
            };
        }
        // Automatic: the available pSIM plans of the SIM's provider whose
        // requirements this row can meet; or one plan needing an address
        // would make every row of its provider ambiguous.
        let mut usable = Vec::new();
        let mut blocked = Vec::new();
        for plan in self.catalogue.iter().filter(|p| misfit(p, sim).is_none()) {
            match self.cannot_meet(plan, row)? {
                None => usable.push(plan),
                Some(failure) => blocked.push(failure),
            }
        }
        match usable.as_slice() {
            [plan] => Ok((*plan).clone()),
            [] => Err(merge_blocked(blocked)
                .unwrap_or(Failure::NoCompatiblePlan {
                    provider: sim.provider.clone(),
                })
                .into()),
            plans => Err(Failure::PlanAmbiguous {
                candidates: plans.iter().map(|p| p.label()).collect(),
            }
            .into()),
        }
    }

    /// For a dry run on a plan that requires an address: which address the
    /// row would use, read from the user's addresses (listed once per user),
    /// never created.
    fn address_note(
        &self,
        row: &RowRequest,
        plan: &Plan,
        user: &UserPick,
    ) -> Result<Option<String>, Step> {
        let Ok(address) = row.address.address() else {
            return Ok(None);
        };
        if !plan.requires_address() {
            return Ok(None);
        }
        let found = match user {
            UserPick::Known(user) => self.addresses.find(&self.client, &user.id, &address)?,
            UserPick::New { .. } => None,
        };
        Ok(Some(match found {
            Some(id) => format!(", with the user's address {id}"),
            None => ", adding the row's address to the user".to_owned(),
        }))
    }

    /// What of `plan`'s requirements the row (and its user, looked up only
    /// when the plan asks something of the user) cannot meet.
    fn cannot_meet(&self, plan: &Plan, row: &RowRequest) -> Result<Option<Failure>, Step> {
        if !asks_of_user(plan) {
            return Ok(unmet(plan, row, &Holder::New));
        }
        Ok(match self.pick_user(row)? {
            UserPick::Known(user) => unmet(plan, row, &Holder::Existing(&user)),
            UserPick::New { .. } => unmet(plan, row, &Holder::New),
        })
    }

    /// A plan by id: from the catalogue, else fetched once per run (it may
    /// exist and be archived, which the catalogue does not list).
    fn plan(&self, id: &str) -> Result<Plan, Step> {
        if let Some(plan) = self.catalogue.iter().find(|p| p.id == id) {
            return Ok(plan.clone());
        }
        self.plans
            .get_or_init(id, || match self.client.get_plan(id) {
                Ok(plan) => Ok(plan),
                Err(err) if err.is_not_found() => Err(Failure::PlanNotFound {
                    plan: id.to_owned(),
                }
                .into()),
                Err(err) => Err(err.into()),
            })
    }

    /// Step 4: the row's user column, else its email, else `--user`. Every
    /// lookup is made once per run, so asking again costs nothing.
    fn pick_user(&self, row: &RowRequest) -> Result<UserPick, Step> {
        if let Some(id) = &row.user {
            Ok(UserPick::Known(self.user(id)?))
        } else if let Some(email) = &row.email {
            Ok(match self.search_email(email)? {
                Some(user) => UserPick::Known(user),
                None => UserPick::New {
                    email: email.clone(),
                },
            })
        } else if let Some(id) = &self.settings.user {
            Ok(UserPick::Known(self.user(id)?))
        } else {
            Err(Failure::UserMissing.into())
        }
    }

    fn user(&self, id: &str) -> Result<User, Step> {
        self.users
            .get_or_init(id, || match self.client.get_user(id) {
                Ok(user) => Ok(user),
                Err(err) if err.is_not_found() => Err(Failure::UserNotFound {
                    user: id.to_owned(),
                }
                .into()),
                Err(err) => Err(err.into()),
            })
    }

    /// The user with this email, searched once per run per email (compared
    /// case-insensitively). "Nobody has it" is a guess that can go stale (a
    /// create, this run's or another's, changes it): this run's creates
    /// replace it, and no outcome is decided on it alone (see [`Self::wants`]).
    fn search_email(&self, email: &str) -> Result<Option<User>, Step> {
        self.searched.get_or_init(&email_key(email), || {
            if let Some(snapshot) = &self.snapshot {
                if let Some(known) = snapshot.user_by_email(email)? {
                    return Ok(known);
                }
            }
            self.find_email(email)
        })
    }

    fn find_email(&self, email: &str) -> Result<Option<User>, Step> {
        let key = email_key(email);
        let users = self.client.search_users(email)?;
        Ok(users
            .into_iter()
            .find(|u| u.email.as_deref().is_some_and(|e| email_key(e) == key)))
    }

    /// Creates the user for `email`, once per run, safely: a create that may
    /// have landed, or an email already taken, is settled by searching.
    /// The user gets the row's `full_name` and `birthday`.
    fn create_user(&self, email: &str, row: &RowRequest) -> Result<User, Step> {
        self.created.get_or_init(&email_key(email), || {
            let key = self
                .settings
                .idempotency_keys
                .then(|| idempotency_key(&["user", &self.settings.project, &email_key(email)]));
            let key_of = email_key(email);
            let new = NewUser {
                email,
                full_name: row.full_name.as_deref(),
                birthday: row.birthday.as_deref(),
            };
            let mut after = None;
            loop {
                let err = match self.client.create_user(&new, key.as_deref(), after) {
                    Ok(user)
                        if user
                            .email
                            .as_deref()
                            .map_or(true, |e| email_key(e) == key_of) =>
                    {
                        return Ok(user)
                    }
                    // The answer is another user's: the one with this email
                    // is found by searching, as after a lost answer.
                    Ok(other) => {
                        return self.find_email(email)?.ok_or_else(|| {
                            Failure::Api(format!(
                                "the user create answered with user {} of another email, \
                                 and no user has this row's email",
                                cut(&other.id, 60)
                            ))
                            .into()
                        })
                    }
                    Err(err) => err,
                };
                if err.is_auth()
                    || err.is_interrupted()
                    || !(err.code() == Some("userAlreadyExists") || err.maybe_landed())
                {
                    return Err(err.into());
                }
                if let Some(user) = self.find_email(email)? {
                    return Ok(user);
                }
                // Nobody has the email: the create did not land; send it
                // again if the budget allows.
                after = Some(err.next_try().ok_or(err)?);
            }
        })
    }

    /// Step 5: create the subscription, safely, with the id of the user's
    /// address when the plan requires one.
    fn subscribe(
        &self,
        row: &RowRequest,
        sim: &Sim,
        plan: &Plan,
        user: &User,
        address: Option<&str>,
    ) -> Result<RowResult, Step> {
        let key = self
            .settings
            .idempotency_keys
            .then(|| idempotency_key(&[&self.settings.project, &row.iccid, &plan.id, &user.id]));
        let new = NewSubscription {
            plan: &plan.id,
            sim: &sim.id,
            user: &user.id,
            user_address: address,
        };
        let mut after = None;
        loop {
            let err = match self.client.create_subscription(&new, key.as_deref(), after) {
                Ok(sub) if answers_for(&sub, sim, plan, user) => {
                    return Ok(self.created(sub, sim, plan, user))
                }
                // The create was taken, but its answer is another
                // subscription's: look at the SIM, as after a lost answer.
                Ok(other) => return self.find_created(&other, sim, plan, user),
                Err(err) => err,
            };
            match self.settle(err, sim, plan, user)? {
                Settled::Done(done) => return Ok(done),
                Settled::SendAgain(next) => after = Some(next),
            }
        }
    }

    /// The row's result from a subscription just created.
    fn created(&self, sub: Subscription, sim: &Sim, plan: &Plan, user: &User) -> RowResult {
        let message = format!("subscription {} is {}", sub.id, status_of(&sub, plan));
        let mut done = RowResult::success(Outcome::Onboarded, message, &sub, sim);
        // Some answers may not embed everything; the row knows.
        for (cell, known) in [(&mut done.plan_id, &plan.id), (&mut done.user_id, &user.id)] {
            if cell.is_empty() {
                cell.clone_from(known);
            }
        }
        done
    }

    /// After a create whose answer named another SIM, plan or user: this
    /// row's subscription as the SIM's subscriptions show it, else an
    /// `api_error` (not final: `--resume` looks again).
    fn find_created(
        &self,
        other: &Subscription,
        sim: &Sim,
        plan: &Plan,
        user: &User,
    ) -> Result<RowResult, Step> {
        let subs = self.live_subscriptions(sim)?;
        let ours = subs
            .iter()
            .find(|s| s.plan_id() == plan.id && s.user_id() == user.id);
        match ours {
            Some(sub) => Ok(RowResult::success(
                Outcome::Onboarded,
                format!(
                    "subscription {} is {} (the create answered with another subscription; \
                     found by looking up the SIM)",
                    sub.id,
                    status_of(sub, plan)
                ),
                sub,
                sim,
            )),
            None => Err(Failure::Api(format!(
                "the subscription create answered with subscription {} of SIM {}, plan {} \
                 and user {}, which this row did not ask for, and the SIM has no \
                 subscription with this plan and user",
                cut(&other.id, 60),
                cut(other.sim_id(), 60),
                cut(other.plan_id(), 60),
                cut(other.user_id(), 60)
            ))
            .into()),
        }
    }

    /// A subscription create failed: look at the SIM when the create may have
    /// landed or the SIM is taken, and say how the row ends, or that nothing
    /// is there and the create may be sent again.
    fn settle(&self, err: Error, sim: &Sim, plan: &Plan, user: &User) -> Result<Settled, Step> {
        if err.is_auth() || err.is_interrupted() {
            return Err(err.into());
        }
        let already_used = err.code() == Some("simAlreadyUsed");
        if !already_used && !err.maybe_landed() {
            return Err(err.into());
        }
        // Either the SIM has a subscription (maybe ours, from an attempt whose
        // answer was lost), or a create may have landed: look.
        let subs = self.live_subscriptions(sim)?;
        let ours = subs
            .iter()
            .find(|s| s.plan_id() == plan.id && s.user_id() == user.id);
        let done = match (ours, subs.first()) {
            (Some(sub), _) if err.maybe_landed() => RowResult::success(
                Outcome::Onboarded,
                format!(
                    "subscription {} is {} (its create answer was lost; found by looking up the SIM)",
                    sub.id,
                    status_of(sub, plan)
                ),
                sub,
                sim,
            ),
            (Some(sub), _) => RowResult::success(
                Outcome::AlreadyOnboarded,
                format!(
                    "subscription {} ({}) already has this plan and user",
                    sub.id, sub.status
                ),
                sub,
                sim,
            ),
            // Someone else's subscription holds the SIM: ours cannot have
            // landed, and sending it again would only be refused.
            (None, Some(other)) => {
                return Err(Failure::SimInUse {
                    subscription: other.id.clone(),
                    plan: other.plan_id().to_owned(),
                    user: other.user_id().to_owned(),
                    status: other.status.clone(),
                }
                .into())
            }
            // Nothing there: the create did not land. Send it again if the
            // budget allows (the client says so), else the row fails.
            (None, None) => return Ok(Settled::SendAgain(err.next_try().ok_or(err)?)),
        };
        Ok(Settled::Done(done))
    }
}

/// True when a create's answer is the subscription asked for: what it names
/// of plan and user is the row's, and so is its SIM, unless the row's SIM is
/// a test placeholder (each use of one makes a new test SIM).
fn answers_for(sub: &Subscription, sim: &Sim, plan: &Plan, user: &User) -> bool {
    let same = |named: &str, wanted: &str| named.is_empty() || named == wanted;
    same(sub.plan_id(), &plan.id)
        && same(sub.user_id(), &user.id)
        && (sim.id.starts_with("sim_test_") || same(sub.sim_id(), &sim.id))
}

/// A dry run's result for a row that would be onboarded.
fn would_onboard(plan: &Plan, user: &UserPick, ids: &RowResult) -> RowResult {
    let (user_id, message) = match user {
        UserPick::Known(user) => (
            user.id.clone(),
            format!("would subscribe to plan {} for user {}", plan.id, user.id),
        ),
        UserPick::New { email } => (
            String::new(),
            format!(
                "would create a user for {email} and subscribe to plan {}",
                plan.id
            ),
        ),
    };
    RowResult {
        outcome: Some(Outcome::WouldOnboard),
        message,
        user_id,
        ..ids.clone()
    }
}

/// How a failed subscription create ends after looking at the SIM.
enum Settled {
    Done(RowResult),
    /// No trace of the create: it may be sent again.
    SendAgain(NextTry),
}

/// A SIM found by its ICCID must be a pSIM that is inactive or active: not
/// retired, nor `deleted` or any status Gigs adds.
fn usable(sim: &Sim) -> Result<(), Step> {
    if !sim.is_psim() {
        let sim_type = if sim.sim_type.is_empty() {
            "unknown SIM type".to_owned()
        } else {
            sim.sim_type.clone()
        };
        return Err(Failure::SimNotPsim { sim_type }.into());
    }
    match sim.status.as_str() {
        "inactive" | "active" => Ok(()),
        "retired" => Err(Failure::SimRetired.into()),
        other => Err(Failure::SimUnusable {
            status: crate::gigs::client::cut(other, 40),
        }
        .into()),
    }
}

/// A subscription's status for a message: a `pending` one on a plan that
/// activates on first use says so, for it stays pending until then.
fn status_of(sub: &Subscription, plan: &Plan) -> String {
    if sub.status == "pending" && plan.activates_on_use() {
        "pending: it activates when the SIM is first used (the plan starts on usage)".to_owned()
    } else {
        sub.status.clone()
    }
}

/// When no plan is left because the row cannot meet their requirements:
/// the first such failure, naming every plan that failed the same way.
fn merge_blocked(blocked: Vec<Failure>) -> Option<Failure> {
    let mut iter = blocked.into_iter();
    let mut first = iter.next()?;
    let code = first.code();
    let others: Vec<String> = iter
        .filter(|f| f.code() == code)
        .filter_map(|mut f| f.plan_mut().map(std::mem::take))
        .collect();
    if let Some(plan) = first.plan_mut() {
        for other in others {
            plan.push_str(" or ");
            plan.push_str(&other);
        }
    }
    Some(first)
}

/// Why `plan` cannot serve `sim`, if it cannot: status, SIM type, provider.
fn misfit(plan: &Plan, sim: &Sim) -> Option<String> {
    if !plan.is_available() {
        let status = if plan.status.is_empty() {
            "not available"
        } else {
            &plan.status
        };
        return Some(format!("the plan is {status}, not available"));
    }
    if !plan.supports_psim() {
        return Some(format!(
            "the plan supports {} SIMs, not pSIMs",
            if plan.sim_types.is_empty() {
                "no".to_owned()
            } else {
                plan.sim_types.join(" and ")
            }
        ));
    }
    // A test SIM goes with a plan of any provider.
    if !sim.is_test() && plan.provider != sim.provider {
        return Some(format!(
            "the plan is for provider {}, the SIM is from provider {}",
            plan.provider, sim.provider
        ));
    }
    None
}

/// ICCIDs compare without the `F` padding of 19-digit ones, ignoring case.
fn same_iccid(a: &str, b: &str) -> bool {
    let key = |s: &str| {
        let s = s.trim();
        match s.strip_suffix(['F', 'f']) {
            Some(digits) if digits.len() == 19 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.to_owned()
            }
            _ => s.to_ascii_uppercase(),
        }
    };
    !a.trim().is_empty() && key(a) == key(b)
}

/// Whether a row's own cells pass the checks made before any call: a row
/// that fails them is resolved by nobody (the snapshot does not count it).
pub fn cells_pass(row: &RowRequest) -> bool {
    requirements::check_cells(row).is_ok()
}

/// Emails compare case-insensitively, without surrounding blanks.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deterministic `Idempotency-Key`: the hex SHA-256 of the parts, so that a
/// retry, or a rerun, of the same create sends the same key.
pub fn idempotency_key(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"simboard");
    for part in parts {
        hash.update([0u8]);
        hash.update(part.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Plan {
        serde_json::from_str(json).unwrap()
    }

    fn sim(provider: &str) -> Sim {
        serde_json::from_str(&format!(
            r#"{{"id":"sim_1","iccid":"89","type":"pSIM","provider":"{provider}","status":"inactive"}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_plan_misfits_by_status_then_type_then_provider() {
        let archived =
            plan(r#"{"id":"a","status":"archived","simTypes":["pSIM"],"provider":"p4"}"#);
        assert!(misfit(&archived, &sim("p4")).unwrap().contains("archived"));
        let esim = plan(r#"{"id":"e","status":"available","simTypes":["eSIM"],"provider":"p4"}"#);
        assert!(misfit(&esim, &sim("p4")).unwrap().contains("eSIM"));
        let p9 = plan(r#"{"id":"n","status":"available","simTypes":["pSIM"],"provider":"p9"}"#);
        assert!(misfit(&p9, &sim("p4")).unwrap().contains("provider p9"));
        assert_eq!(misfit(&p9, &sim("p9")), None);
        assert_eq!(
            misfit(&p9, &sim("test")),
            None,
            "a test SIM fits any provider"
        );
    }

    fn sim_with_status(status: &str) -> Sim {
        serde_json::from_str(&format!(
            r#"{{"id":"sim_1","iccid":"89","type":"pSIM","provider":"p4","status":"{status}"}}"#
        ))
        .unwrap()
    }

    fn failure_of(result: Result<(), Step>) -> Failure {
        match result {
            Err(Step::Fail(failure)) => failure,
            other => panic!("expected a row failure, got {other:?}"),
        }
    }

    #[test]
    fn only_inactive_and_active_sims_are_usable_and_others_are_named() {
        assert!(usable(&sim_with_status("inactive")).is_ok());
        assert!(usable(&sim_with_status("active")).is_ok());
        assert_eq!(
            failure_of(usable(&sim_with_status("retired"))),
            Failure::SimRetired
        );
        for status in ["deleted", "suspended", ""] {
            let failure = failure_of(usable(&sim_with_status(status)));
            assert_eq!(failure.code(), "sim_unusable", "{status:?}");
            let named = if status.is_empty() {
                "not given"
            } else {
                status
            };
            assert!(failure.to_string().contains(named), "{failure}");
        }
    }

    #[test]
    fn a_pending_subscription_on_a_usage_started_plan_says_it_activates_on_use() {
        let sub: Subscription =
            serde_json::from_str(r#"{"id":"sub_1","status":"pending"}"#).unwrap();
        let on_use = plan(r#"{"id":"p","activationTrigger":"usageStarted"}"#);
        assert!(status_of(&sub, &on_use).contains("first used"));
        let on_creation = plan(r#"{"id":"p","activationTrigger":"creation"}"#);
        assert_eq!(status_of(&sub, &on_creation), "pending");
        let active: Subscription =
            serde_json::from_str(r#"{"id":"sub_2","status":"active"}"#).unwrap();
        assert_eq!(status_of(&active, &on_use), "active");
    }

    #[test]
    fn plans_blocked_the_same_way_are_named_together() {
        let device = |plan: &str| Failure::PlanRequiresDevice { plan: plan.into() };
        let merged = merge_blocked(vec![
            device("pln_a"),
            Failure::PlanRequiresBirthday {
                plan: "pln_b".into(),
                existing: None,
            },
            device("pln_c"),
        ])
        .unwrap();
        assert_eq!(merged, device("pln_a or pln_c"));
        assert_eq!(merge_blocked(Vec::new()), None);
    }

    #[test]
    fn idempotency_keys_are_stable_and_distinct() {
        let a = idempotency_key(&["p", "8988", "pln_1", "usr_1"]);
        assert_eq!(a, idempotency_key(&["p", "8988", "pln_1", "usr_1"]));
        assert_ne!(a, idempotency_key(&["p", "8988", "pln_1", "usr_2"]));
        assert_ne!(a, idempotency_key(&["p", "8988pln_1", "", "usr_1"]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn emails_and_iccids_compare_loosely() {
        assert_eq!(email_key(" Ann@Example.COM "), "ann@example.com");
        assert!(same_iccid("8988307000000753711F", "8988307000000753711"));
        assert!(same_iccid("8988307000000753711f", "8988307000000753711F"));
        assert!(same_iccid(" 89424242424242424242", "89424242424242424242"));
        assert!(!same_iccid("89883070000007537119", "89883070000007537118"));
        assert!(!same_iccid("89883070000007537119", "8988307000000753711"));
        assert!(!same_iccid("", ""), "a SIM without an ICCID is no match");
    }

    #[test]
    fn an_address_needs_line1_city_and_country() {
        let cells = AddressCells {
            line1: Some("1 Main St".into()),
            country: Some("DE".into()),
            ..Default::default()
        };
        assert_eq!(cells.address(), Err(vec!["address_city"]));
        let full = AddressCells {
            city: Some("Berlin".into()),
            ..cells
        };
        assert_eq!(full.address().unwrap().city, "Berlin");
    }

    #[test]
    fn only_definitive_answers_are_kept() {
        let map: OnceMap<u32> = OnceMap::new();
        let transient = || Err(Failure::Api("HTTP 503 (after 6 attempts)".into()).into());
        assert!(matches!(
            map.get_or_init("a@x", transient),
            Err(Step::Fail(Failure::Api(_)))
        ));
        assert_eq!(
            map.get_or_init("a@x", || Ok(7)).ok(),
            Some(7),
            "asked again"
        );
        assert_eq!(map.get_or_init("a@x", || Ok(8)).ok(), Some(7), "kept");
        let missing = || {
            Err(Failure::UserNotFound {
                user: "usr_x".into(),
            }
            .into())
        };
        assert!(map.get_or_init("usr_x", missing).is_err());
        assert!(
            map.get_or_init("usr_x", || Ok(1)).is_err(),
            "not found is kept"
        );
    }

    #[test]
    fn a_create_replaces_what_was_kept() {
        let map: OnceMap<Option<User>> = OnceMap::new();
        let user: User = serde_json::from_str(r#"{"id":"usr_1","email":"a@x"}"#).unwrap();
        assert!(matches!(map.get_or_init("a@x", || Ok(None)), Ok(None)));
        map.put("a@x", Some(user));
        let found = map.get_or_init("a@x", || Ok(None));
        assert_eq!(found.ok().flatten().map(|u| u.id), Some("usr_1".into()));
    }

    #[test]
    fn failures_have_stable_codes() {
        assert_eq!(Failure::SimNotFound.code(), "sim_not_found");
        assert!(Failure::SimNotFound.to_string().contains("associated"));
        let ambiguous = Failure::PlanAmbiguous {
            candidates: vec!["pln_a (A)".into(), "pln_b (B)".into()],
        };
        assert_eq!(ambiguous.code(), "plan_ambiguous");
        assert!(ambiguous.to_string().contains("pln_a (A), pln_b (B)"));
    }
}
