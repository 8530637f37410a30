//! Subscriptions: the create, checked in the documented order, each check
//! with its own error, and committed only when every check has passed; and
//! the reads, with `plan`, `sim` and `user` embedded as the API answers.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::super::catalogue::{Activation, Placeholder, Plan, TEST_ICCID_PREFIX};
use super::super::clock::rfc3339;
use super::super::error::ApiError;
use super::records::{Condition, PackedIccid, Subscription, User};
use super::table::{Lister, Page, Scope};
use super::{fresh_id, NewSubscription, Now, State, SubscriptionFilter};

/// The SIM a subscription create will use, before anything is committed.
enum Candidate {
    Stored(usize),
    Placeholder(&'static Placeholder),
    /// No `sim` given, for an eSIM plan: an eSIM is provisioned on demand.
    NewEsim,
}

/// The positions an index holds for `key`, as a list scope.
fn indexed<'a>(index: &'a HashMap<String, Vec<usize>>, key: &str) -> Scope<'a> {
    Scope::Only(index.get(key).map_or(&[][..], Vec::as_slice))
}

/// What the SIM checks look at, whichever kind of candidate it is.
struct SimFacts<'a> {
    sim_type: &'static str,
    provider: &'a str,
    condition: Condition,
    in_use: bool,
}

fn refuse(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_because(code, message)
}

impl State {
    pub fn create_subscription(
        &mut self,
        new: NewSubscription,
        now: Now,
    ) -> Result<Value, ApiError> {
        let plan = self.available_plan(&new.plan)?;
        let user = self
            .users
            .get(&new.user)
            .ok_or_else(|| refuse("userNotFound", format!("No user has the id {:?}", new.user)))?;
        let candidate = self.candidate(plan, new.sim.as_deref())?;
        self.check_sim(plan, &candidate)?;
        self.check_requirements(plan, user, new.user_address.as_deref())?;
        let plan = plan.clone();
        self.commit_subscription(new, candidate, &plan, now)
    }

    fn available_plan(&self, id: &str) -> Result<&Plan, ApiError> {
        let plan = self
            .plans
            .get(id)
            .ok_or_else(|| refuse("planNotFound", format!("No plan has the id {id:?}")))?;
        if !plan.is_available() {
            let message = format!("The plan {} is {}, not available", plan.id, plan.status);
            return Err(refuse("planNotAvailable", message));
        }
        Ok(plan)
    }

    fn candidate(&self, plan: &Plan, sim: Option<&str>) -> Result<Candidate, ApiError> {
        match sim {
            Some(id) => match (self.sims.position(id), Placeholder::by_id(id)) {
                (Some(index), _) => Ok(Candidate::Stored(index)),
                (None, Some(placeholder)) => Ok(Candidate::Placeholder(placeholder)),
                (None, None) => Err(refuse("simNotFound", format!("No SIM has the id {id:?}"))),
            },
            None if plan.serves("eSIM") => Ok(Candidate::NewEsim),
            None => Err(refuse(
                "simRequired",
                format!("The plan {} serves no eSIM: `sim` is required", plan.id),
            )),
        }
    }

    fn facts<'a>(&'a self, plan: &'a Plan, candidate: &Candidate) -> SimFacts<'a> {
        match candidate {
            Candidate::Stored(i) => {
                let sim = &self.sims.items[*i];
                SimFacts {
                    sim_type: sim.sim_type,
                    provider: &sim.provider,
                    condition: sim.condition,
                    in_use: sim.subscription.is_some(),
                }
            }
            Candidate::Placeholder(p) => SimFacts {
                sim_type: p.sim_type,
                provider: "test",
                condition: Condition::Usable,
                in_use: false,
            },
            Candidate::NewEsim => SimFacts {
                sim_type: "eSIM",
                provider: &plan.provider,
                condition: Condition::Usable,
                in_use: false,
            },
        }
    }

    fn check_sim(&self, plan: &Plan, candidate: &Candidate) -> Result<(), ApiError> {
        let sim = self.facts(plan, candidate);
        if !plan.serves(sim.sim_type) {
            let message = format!("The plan {} does not serve {}s", plan.id, sim.sim_type);
            return Err(refuse("simTypeNotSupported", message));
        }
        // Test SIMs pair with a plan of any provider.
        if sim.provider != "test" && sim.provider != plan.provider {
            let message = format!(
                "The SIM's provider {} does not serve the plan {} of provider {}",
                sim.provider, plan.id, plan.provider
            );
            return Err(refuse("simProviderMismatch", message));
        }
        match sim.condition {
            Condition::Retired => return Err(refuse("simRetired", "The SIM is retired")),
            Condition::Deleted => return Err(refuse("simDeleted", "The SIM is deleted")),
            Condition::Usable => {}
        }
        if sim.in_use {
            return Err(refuse(
                "simAlreadyUsed",
                "SIM already in use with an existing subscription",
            ));
        }
        Ok(())
    }

    /// The plan's requirements, in the order the reference lists them:
    /// address, the user's full name and birthday, a device.
    fn check_requirements(
        &self,
        plan: &Plan,
        user: &User,
        address: Option<&str>,
    ) -> Result<(), ApiError> {
        match address {
            Some(given) => self.check_address(user, given)?,
            None if plan.requirements.address => {
                let message = format!("The plan {} requires a userAddress", plan.id);
                return Err(refuse("userAddressRequired", message));
            }
            None => {}
        }
        if plan.requirements.full_name && user.full_name.is_none() {
            let message = format!("The plan {} requires the user's fullName", plan.id);
            return Err(refuse("userFullNameRequired", message));
        }
        if plan.requirements.birthday && user.birthday.is_none() {
            let message = format!("The plan {} requires the user's birthday", plan.id);
            return Err(refuse("userBirthdayRequired", message));
        }
        if plan.requirements.device {
            // A create names no device, so the emulator can never meet this.
            let message = format!("The plan {} requires a device", plan.id);
            return Err(refuse("deviceRequired", message));
        }
        Ok(())
    }

    /// `userAddress` is the id of one of the user's addresses (an inline
    /// object is not documented: the API layer refuses it).
    fn check_address(&self, user: &User, id: &str) -> Result<(), ApiError> {
        let owned = self
            .addresses
            .get(id)
            .is_some_and(|address| address.user == user.id);
        if owned {
            Ok(())
        } else {
            let message = format!(
                "The given address is not valid: {id:?} is not an address of {}",
                user.id
            );
            Err(refuse("userAddressInvalid", message))
        }
    }

    fn commit_subscription(
        &mut self,
        new: NewSubscription,
        candidate: Candidate,
        plan: &Plan,
        now: Now,
    ) -> Result<Value, ApiError> {
        let (sim_index, delay) = self.take_sim(candidate, plan, now);
        // A plan activated by usage keeps its subscriptions pending: the
        // emulator's SIMs are never used.
        let delay = delay.filter(|_| !plan.waits_for_usage);
        let activates_at = delay.and_then(|d| now.instant.checked_add(d));
        let activated_wall = delay.and_then(|d| now.wall.checked_add(d));
        let subscriptions = &self.subscriptions;
        let id = fresh_id(&mut self.rng, "sub_", |id| subscriptions.contains(id));
        let phone_number = format!("+1555{:07}", self.subscriptions.len() % 10_000_000);
        let sim = &mut self.sims.items[sim_index];
        sim.activates_at = activates_at;
        sim.user = Some(new.user.as_str().into());
        sim.subscription = Some(id.as_str().into());
        let subscription = Subscription {
            id: id.clone(),
            plan: new.plan,
            user: new.user,
            sim: sim.id.to_string(),
            phone_number,
            user_address: new.user_address,
            created_at: rfc3339(now.wall),
            activates_at,
            activated_wall,
        };
        let body = self.embedded(&subscription, Some(plan.body.clone()), now);
        let (sim_id, user) = (subscription.sim.clone(), subscription.user.clone());
        let index = self.subscriptions.insert(&id, subscription);
        self.subscriptions_by_sim
            .entry(sim_id)
            .or_default()
            .push(index);
        self.subscriptions_by_user
            .entry(user.clone())
            .or_default()
            .push(index);
        // SIMs are not taken in creation order: keep the list sorted.
        let sims = self.sims_by_user.entry(user).or_default();
        let at = sims.partition_point(|&i| i < sim_index);
        sims.insert(at, sim_index);
        self.counters.subscriptions_created += 1;
        Ok(body)
    }

    /// The stored SIM the subscription goes on, made now for an eSIM or a
    /// placeholder, and the delay before it activates.
    fn take_sim(
        &mut self,
        candidate: Candidate,
        plan: &Plan,
        now: Now,
    ) -> (usize, Option<Duration>) {
        match candidate {
            // An inventory pSIM activates at once: the emulator does not
            // model the network's activation time.
            Candidate::Stored(index) => (index, Some(Duration::ZERO)),
            Candidate::NewEsim => {
                let iccid = self.fresh_iccid("89", 17);
                let index = self.add_sim(iccid, "eSIM", &plan.provider, Condition::Usable, now);
                (index, Some(Duration::ZERO))
            }
            Candidate::Placeholder(placeholder) => {
                let iccid = self.fresh_iccid(TEST_ICCID_PREFIX, 10);
                let sim_type = placeholder.sim_type;
                let index = self.add_sim(iccid, sim_type, "test", Condition::Usable, now);
                (index, self.activation_delay(placeholder.activation))
            }
        }
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
    fn fresh_iccid(&mut self, prefix: &str, random: usize) -> PackedIccid {
        loop {
            let mut iccid = prefix.to_owned();
            iccid.extend((0..random).map(|_| self.rng.digit(10)));
            if prefix != TEST_ICCID_PREFIX {
                let check = crate::iccid::luhn_check_digit(iccid.as_bytes());
                iccid.push(char::from(b'0' + check));
            }
            // The prefixes are digits and so is the rest: this always packs.
            let Some(packed) = PackedIccid::pack(&iccid) else {
                continue;
            };
            if !self.sims_by_iccid.contains_key(&packed) && Placeholder::by_iccid(&iccid).is_none()
            {
                return packed;
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

    /// With a `sim` (or `user`) filter, only that SIM's (or user's)
    /// subscriptions are looked at, through their index.
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
        let scope = match (&filter.sim, &filter.user) {
            (Some(sim), _) => indexed(&self.subscriptions_by_sim, sim),
            (None, Some(user)) => indexed(&self.subscriptions_by_user, user),
            (None, None) => Scope::All,
        };
        let lister = Lister {
            table: &self.subscriptions,
            what: "subscription",
            keep,
            id_of: |s: &Subscription| s.id.as_str(),
            render: |s: &Subscription| self.embedded(s, None, now),
        };
        lister.page(scope, page)
    }

    pub fn get_subscription(&self, id: &str, now: Now) -> Result<Value, ApiError> {
        self.subscriptions
            .get(id)
            .map(|s| self.embedded(s, None, now))
            .ok_or_else(|| ApiError::not_found(format!("No subscription has the id {id:?}")))
    }
}
