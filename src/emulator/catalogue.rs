//! The emulator's fixed data: the plan catalogue (built in, or read from
//! `--plans`) and the four test SIM placeholders of the reference.
//!
//! The built-in catalogue exists to cover every pairing case a client meets:
//! a plan for both SIM types, an eSIM-only plan, an archived plan, a plan that
//! requires an address, a plan of another provider and one of the `test`
//! provider; and, on a provider of their own (`p5`, so that they never make
//! the automatic pairing of `p4` ambiguous), one plan per other requirement
//! and one whose subscriptions wait for the SIM's first use. Its ids are
//! readable on purpose, so tests and users can name them.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::error::{EmulatorError, PlanError};

/// What a plan requires of a subscription create, read from the flat dotted
/// keys of `requirements` (`address`, `user.fullName`, `user.birthday`,
/// `device`). Each holds `none`, `present` or `verified` (`device`: `none` or
/// `present`); a missing key means `none`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    pub address: bool,
    pub full_name: bool,
    pub birthday: bool,
    pub device: bool,
}

/// The requirement keys, flat, with the values each may take.
const REQUIREMENT_KEYS: [(&str, &[&str]); 4] = [
    ("address", &["none", "present", "verified"]),
    ("user.fullName", &["none", "present", "verified"]),
    ("user.birthday", &["none", "present", "verified"]),
    ("device", &["none", "present"]),
];

impl Requirements {
    /// Reads `requirements` and answers it rewritten with flat keys. Nested
    /// `user: {fullName, birthday}` is tolerated on input (older plan files
    /// have it) and served flat, as the API does.
    fn read(raw: Option<&Value>, id: &str) -> Result<(Requirements, Value), PlanError> {
        let mut flat = Map::new();
        match raw {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("user", Value::Object(nested)) => {
                            for (sub, value) in nested {
                                flat.insert(format!("user.{sub}"), value.clone());
                            }
                        }
                        _ => {
                            flat.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            Some(_) => return Err(PlanError::new(id, "`requirements` must be an object")),
        }
        let mut wanted = [false; 4];
        for (slot, (key, allowed)) in wanted.iter_mut().zip(REQUIREMENT_KEYS) {
            let value = flat
                .entry(key.to_owned())
                .or_insert_with(|| Value::from("none"));
            match value.as_str() {
                Some(v) if allowed.contains(&v) => *slot = v != "none",
                _ => {
                    let message = format!("requirements.{key} is one of {}", allowed.join(", "));
                    return Err(PlanError::new(id, message));
                }
            }
        }
        let [address, full_name, birthday, device] = wanted;
        let requirements = Requirements {
            address,
            full_name,
            birthday,
            device,
        };
        Ok((requirements, Value::Object(flat)))
    }
}

/// A plan as the emulator reasons about it, plus the JSON object it serves.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub provider: String,
    pub sim_types: Vec<String>,
    pub status: String,
    pub requirements: Requirements,
    /// `activationTrigger: usageStarted`: new subscriptions stay `pending`
    /// until the SIM is first used, which never happens in the emulator.
    pub waits_for_usage: bool,
    pub body: Value,
}

impl Plan {
    /// Older docs and the SIMs guide call an available plan `active`.
    pub fn is_available(&self) -> bool {
        matches!(self.status.as_str(), "available" | "active")
    }

    pub fn serves(&self, sim_type: &str) -> bool {
        self.sim_types.iter().any(|t| t == sim_type)
    }

    /// Reads the fields the emulator acts on from a plan object, keeping the
    /// rest of the object as it is (but `requirements` flat and
    /// `activationTrigger` always present).
    pub fn from_value(value: Value) -> Result<Plan, PlanError> {
        let Value::Object(mut map) = value else {
            return Err(PlanError::new("?", "a plan must be a JSON object"));
        };
        let text = |map: &Map<String, Value>, key: &str, id: &str| -> Result<String, PlanError> {
            match map.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(PlanError::new(
                    id,
                    format!("a plan needs a non-empty string `{key}`"),
                )),
            }
        };
        let id = text(&map, "id", "?")?;
        let provider = text(&map, "provider", &id)?;
        let status = match map.get("status") {
            None => "available".to_owned(),
            Some(_) => text(&map, "status", &id)?,
        };
        let sim_types = read_sim_types(map.get("simTypes"), &id)?;
        let (requirements, flat) = Requirements::read(map.get("requirements"), &id)?;
        map.insert("requirements".to_owned(), flat);
        let trigger = map
            .entry("activationTrigger")
            .or_insert_with(|| Value::from("creation"));
        let waits_for_usage = match trigger.as_str() {
            Some("creation") => false,
            Some("usageStarted") => true,
            _ => {
                let message = "activationTrigger is creation or usageStarted";
                return Err(PlanError::new(&id, message));
            }
        };
        map.entry("object").or_insert_with(|| Value::from("plan"));
        Ok(Plan {
            id,
            provider,
            sim_types,
            status,
            requirements,
            waits_for_usage,
            body: Value::Object(map),
        })
    }
}

fn read_sim_types(raw: Option<&Value>, id: &str) -> Result<Vec<String>, PlanError> {
    match raw {
        Some(Value::Array(types)) => types
            .iter()
            .map(|t| match t.as_str() {
                Some(t @ ("pSIM" | "eSIM")) => Ok(t.to_owned()),
                _ => Err(PlanError::new(
                    id,
                    "simTypes holds only \"pSIM\" and \"eSIM\"",
                )),
            })
            .collect(),
        _ => Err(PlanError::new(id, "a plan needs a `simTypes` list")),
    }
}

/// One built-in plan, before it becomes a JSON object.
struct Spec {
    id: &'static str,
    name: &'static str,
    provider: &'static str,
    sim_types: &'static [&'static str],
    status: &'static str,
    /// `(key, value)` requirements other than `none`.
    requires: &'static [(&'static str, &'static str)],
    trigger: &'static str,
}

const BOTH: &[&str] = &["eSIM", "pSIM"];

const fn spec(
    id: &'static str,
    name: &'static str,
    provider: &'static str,
    sim_types: &'static [&'static str],
) -> Spec {
    Spec {
        id,
        name,
        provider,
        sim_types,
        status: "available",
        requires: &[],
        trigger: "creation",
    }
}

/// The built-in catalogue; see docs/emulator.md for the table of ids.
const BUILTIN: [Spec; 10] = [
    spec("pln_p4_standard", "P4 Standard", "p4", BOTH),
    spec("pln_p4_esim_only", "P4 eSIM", "p4", &["eSIM"]),
    Spec {
        status: "archived",
        ..spec("pln_p4_archived", "P4 Legacy", "p4", BOTH)
    },
    Spec {
        requires: &[("address", "present")],
        ..spec("pln_p4_address", "P4 Local", "p4", &["pSIM"])
    },
    spec("pln_p9_standard", "P9 Standard", "p9", &["pSIM"]),
    spec("pln_test_standard", "Test plan", "test", BOTH),
    Spec {
        requires: &[("user.fullName", "present")],
        ..spec("pln_p5_full_name", "P5 Named", "p5", BOTH)
    },
    Spec {
        requires: &[("user.birthday", "present")],
        ..spec("pln_p5_birthday", "P5 Dated", "p5", BOTH)
    },
    Spec {
        requires: &[("device", "present")],
        ..spec("pln_p5_device", "P5 Device", "p5", BOTH)
    },
    Spec {
        trigger: "usageStarted",
        ..spec("pln_p5_usage_started", "P5 On first use", "p5", BOTH)
    },
];

pub fn builtin_plans() -> Vec<Plan> {
    BUILTIN
        .iter()
        .map(plan_json)
        .filter_map(|body| Plan::from_value(body).ok())
        .collect()
}

fn plan_json(spec: &Spec) -> Value {
    let mut requirements = Map::new();
    for (key, _) in REQUIREMENT_KEYS {
        let value = spec
            .requires
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("none", |(_, v)| v);
        requirements.insert(key.to_owned(), Value::from(value));
    }
    let name = spec.name;
    json!({
        "object": "plan",
        "id": spec.id,
        "name": name,
        "description": format!("{name}: a plan of the emulator's built-in catalogue."),
        "provider": spec.provider,
        "simTypes": spec.sim_types,
        "status": spec.status,
        "requirements": requirements,
        "activationTrigger": spec.trigger,
        "validity": {"value": 30, "unit": "day"},
        "price": {"amount": 1500, "currency": "USD"},
        "coverage": {"object": "coverage", "id": "de", "name": "Germany", "networks": [{"country": "DE"}]},
        "allowances": {"dataBytes": 10_000_000_000u64, "voiceSeconds": 30_000, "smsMessages": 100},
        "createdAt": "2024-01-01T00:00:00Z",
    })
}

/// Reads `--plans`: a JSON list of plan objects, ids unique.
pub fn load_plans(path: &Path) -> Result<Vec<Plan>, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::PlansUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let values: Vec<Value> =
        serde_json::from_str(&text).map_err(|source| EmulatorError::PlansNotJson {
            path: path.to_owned(),
            source,
        })?;
    let mut plans: Vec<Plan> = Vec::with_capacity(values.len());
    for value in values {
        let plan = Plan::from_value(value).map_err(|source| EmulatorError::BadPlan {
            path: path.to_owned(),
            source,
        })?;
        if plans.iter().any(|p| p.id == plan.id) {
            return Err(EmulatorError::DuplicatePlan {
                path: path.to_owned(),
                id: plan.id,
            });
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// When a test SIM made from a placeholder turns active.
#[derive(Clone, Copy, Debug)]
pub enum Activation {
    Immediate,
    /// Uniformly between the two bounds (the reference's "30–60 s").
    Between(Duration, Duration),
    After(Duration),
}

/// A placeholder SIM id of the `test` provider.
#[derive(Clone, Copy, Debug)]
pub struct Placeholder {
    pub id: &'static str,
    pub sim_type: &'static str,
    pub iccid: &'static str,
    pub activation: Activation,
}

pub const PLACEHOLDERS: [Placeholder; 4] = [
    Placeholder {
        id: "sim_test_psim",
        sim_type: "pSIM",
        iccid: "89424242424242424242",
        activation: Activation::Immediate,
    },
    Placeholder {
        id: "sim_test_esim",
        sim_type: "eSIM",
        iccid: "89424242420000037469",
        activation: Activation::Immediate,
    },
    Placeholder {
        id: "sim_test_psim_delayed_up_to_one_min",
        sim_type: "pSIM",
        iccid: "89424242420033529334",
        activation: Activation::Between(Duration::from_secs(30), Duration::from_secs(60)),
    },
    Placeholder {
        id: "sim_test_psim_delayed_four_hours",
        sim_type: "pSIM",
        iccid: "89424242423487468777",
        activation: Activation::After(Duration::from_secs(4 * 3600)),
    },
];

/// The prefix of every generated test SIM's ICCID.
pub const TEST_ICCID_PREFIX: &str = "8942424242";

impl Placeholder {
    pub fn by_id(id: &str) -> Option<&'static Placeholder> {
        PLACEHOLDERS.iter().find(|p| p.id == id)
    }

    pub fn by_iccid(iccid: &str) -> Option<&'static Placeholder> {
        PLACEHOLDERS.iter().find(|p| p.iccid == iccid)
    }

    /// The placeholder as `sims/search` shows it, with the guide's fixed date.
    pub fn to_json(self) -> Value {
        json!({
            "object": "sim",
            "id": self.id,
            "iccid": self.iccid,
            "type": self.sim_type,
            "provider": "test",
            "status": "inactive",
            "createdAt": "2021-01-01T00:00:00Z",
            "metadata": {},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_whole() {
        assert_eq!(builtin_plans().len(), BUILTIN.len());
    }

    #[test]
    fn nested_requirements_are_read_and_served_flat() {
        let plan = Plan::from_value(json!({
            "id": "pln_x", "provider": "p4", "simTypes": ["pSIM"],
            "requirements": {"address": "present", "user": {"birthday": "verified"}},
        }))
        .unwrap();
        assert!(plan.requirements.address && plan.requirements.birthday);
        assert!(!plan.requirements.full_name && !plan.requirements.device);
        assert_eq!(plan.body["requirements"]["user.birthday"], "verified");
        assert_eq!(plan.body["requirements"]["device"], "none");
        assert!(plan.body["requirements"].get("user").is_none());
        assert_eq!(plan.body["activationTrigger"], "creation");
    }

    #[test]
    fn an_unknown_requirement_value_is_refused() {
        let err = Plan::from_value(json!({
            "id": "pln_x", "provider": "p4", "simTypes": ["pSIM"],
            "requirements": {"device": "verified"},
        }))
        .unwrap_err();
        assert!(err.to_string().contains("device"), "{err}");
    }

    #[test]
    fn a_plan_without_sim_types_is_refused() {
        let err = Plan::from_value(json!({"id": "pln_x", "provider": "p4"})).unwrap_err();
        assert!(err.to_string().contains("simTypes"), "{err}");
    }
}
