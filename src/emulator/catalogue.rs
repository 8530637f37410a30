//! The emulator's fixed data: the plan catalogue (built in, or read from
//! `--plans`) and the four test SIM placeholders of the reference.
//!
//! The built-in catalogue exists to cover every pairing case a client meets:
//! a plan for both SIM types, an eSIM-only plan, an archived plan, a plan that
//! requires an address, a plan of another provider and one of the `test`
//! provider. Its ids are readable on purpose, so tests and users can name them.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

/// A plan as the emulator reasons about it, plus the JSON object it serves.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub provider: String,
    pub sim_types: Vec<String>,
    pub status: String,
    /// `requirements.address`: `none`, `present` or `verified`.
    pub address: String,
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
    /// rest of the object as it is.
    pub fn from_value(value: Value) -> Result<Plan, String> {
        let Value::Object(mut map) = value else {
            return Err("a plan must be a JSON object".to_owned());
        };
        let text = |map: &Map<String, Value>, key: &str| -> Result<String, String> {
            match map.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(format!("a plan needs a non-empty string `{key}`")),
            }
        };
        let id = text(&map, "id")?;
        let provider = text(&map, "provider").map_err(|e| format!("{id}: {e}"))?;
        let status = match map.get("status") {
            None => "available".to_owned(),
            Some(_) => text(&map, "status").map_err(|e| format!("{id}: {e}"))?,
        };
        let sim_types = match map.get("simTypes") {
            Some(Value::Array(types)) => types
                .iter()
                .map(|t| match t.as_str() {
                    Some(t @ ("pSIM" | "eSIM")) => Ok(t.to_owned()),
                    _ => Err(format!("{id}: simTypes holds only \"pSIM\" and \"eSIM\"")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(format!("{id}: a plan needs a `simTypes` list")),
        };
        let address = match map.get("requirements").and_then(|r| r.get("address")) {
            None | Some(Value::Null) => "none".to_owned(),
            Some(Value::String(a)) if matches!(a.as_str(), "none" | "present" | "verified") => {
                a.clone()
            }
            Some(_) => {
                return Err(format!(
                    "{id}: requirements.address is one of none, present, verified"
                ))
            }
        };
        map.entry("object").or_insert_with(|| Value::from("plan"));
        Ok(Plan {
            id,
            provider,
            sim_types,
            status,
            address,
            body: Value::Object(map),
        })
    }
}

/// The built-in catalogue; see the README section for the table of ids.
pub fn builtin_plans() -> Vec<Plan> {
    let both = &["eSIM", "pSIM"][..];
    [
        plan(
            "pln_p4_standard",
            "P4 Standard",
            "p4",
            both,
            "available",
            "none",
        ),
        plan(
            "pln_p4_esim_only",
            "P4 eSIM",
            "p4",
            &["eSIM"],
            "available",
            "none",
        ),
        plan(
            "pln_p4_archived",
            "P4 Legacy",
            "p4",
            both,
            "archived",
            "none",
        ),
        plan(
            "pln_p4_address",
            "P4 Local",
            "p4",
            &["pSIM"],
            "available",
            "present",
        ),
        plan(
            "pln_p9_standard",
            "P9 Standard",
            "p9",
            &["pSIM"],
            "available",
            "none",
        ),
        plan(
            "pln_test_standard",
            "Test plan",
            "test",
            both,
            "available",
            "none",
        ),
    ]
    .into_iter()
    .filter_map(|body| Plan::from_value(body).ok())
    .collect()
}

fn plan(
    id: &str,
    name: &str,
    provider: &str,
    sim_types: &[&str],
    status: &str,
    address: &str,
) -> Value {
    json!({
        "object": "plan",
        "id": id,
        "name": name,
        "description": format!("{name}: a plan of the emulator's built-in catalogue."),
        "provider": provider,
        "simTypes": sim_types,
        "status": status,
        "requirements": {
            "address": address,
            "device": "none",
            "user": {"birthday": "none", "fullName": "none"},
        },
        "validity": {"value": 30, "unit": "day"},
        "price": {"amount": 1500, "currency": "USD"},
        "coverage": {"object": "coverage", "id": "de", "name": "Germany", "networks": [{"country": "DE"}]},
        "allowances": {"dataBytes": 10_000_000_000u64, "voiceSeconds": 30_000, "smsMessages": 100},
        "createdAt": "2024-01-01T00:00:00Z",
    })
}

/// Reads `--plans`: a JSON list of plan objects, ids unique.
pub fn load_plans(path: &Path) -> anyhow::Result<Vec<Plan>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plans file {}", path.display()))?;
    let values: Vec<Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON list of plans", path.display()))?;
    let mut plans: Vec<Plan> = Vec::with_capacity(values.len());
    for value in values {
        let plan =
            Plan::from_value(value).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if plans.iter().any(|p| p.id == plan.id) {
            bail!("{}: the plan id {} appears twice", path.display(), plan.id);
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
        assert_eq!(builtin_plans().len(), 6);
    }

    #[test]
    fn a_plan_without_sim_types_is_refused() {
        let err = Plan::from_value(json!({"id": "pln_x", "provider": "p4"})).unwrap_err();
        assert!(err.contains("simTypes"), "{err}");
    }
}
