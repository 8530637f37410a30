//! The wire types simboard reads from and sends to the Gigs Core API, written
//! from the API reference (never shared with the emulator, so that a
//! misunderstanding of the API cannot hide on both sides).
//!
//! Reading is lenient on purpose: every field simboard does not strictly need
//! has a default, enum-like fields stay strings (Gigs adds values, and older
//! documents say `"active"` where newer ones say `"available"`), and an
//! embedded object may also arrive as a bare id. A malformed answer becomes an
//! `api_error` row, never a panic.

use serde::{Deserialize, Serialize};

/// `{"object":"list","items":[...],"moreItemsAfter":ID|null}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub more_items_after: Option<String>,
}

/// The error body: `{"object":"error","type":T,"message":M,"code"?:C}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sim {
    pub id: String,
    #[serde(default)]
    pub iccid: String,
    /// `pSIM` or `eSIM`.
    #[serde(default, rename = "type")]
    pub sim_type: String,
    /// `p4`, `p9`, `test`, ...
    #[serde(default)]
    pub provider: String,
    /// `inactive`, `active`, `retired`; Gigs' examples also know `deleted`,
    /// and others may come: only the first two are usable.
    #[serde(default)]
    pub status: String,
}

impl Sim {
    pub fn is_psim(&self) -> bool {
        self.sim_type.eq_ignore_ascii_case("psim")
    }

    pub fn is_test(&self) -> bool {
        self.provider == "test"
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub sim_types: Vec<String>,
    #[serde(default)]
    pub status: String,
    /// Kept as raw JSON: Gigs uses flat dotted keys (`"user.fullName"`),
    /// older documents nest them (`"user": {"fullName": ..}`);
    /// [`Plan::requires`] reads both.
    #[serde(default)]
    pub requirements: serde_json::Value,
    /// `creation` or `usageStarted` (a new subscription stays `pending`
    /// until the SIM is first used); empty when not given.
    #[serde(default)]
    pub activation_trigger: String,
}

impl Plan {
    /// `available`, or `active` as older documents (and the SIMs guide) call it.
    pub fn is_available(&self) -> bool {
        matches!(self.status.as_str(), "available" | "active")
    }

    pub fn supports_psim(&self) -> bool {
        self.sim_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("psim"))
    }

    /// True when the requirement at `path` (`"address"`, `"user.fullName"`)
    /// is anything but `none`: `present`, `verified`, or a value Gigs adds
    /// later (an unknown demand is safer met than ignored).
    pub fn requires(&self, path: &str) -> bool {
        let reqs = &self.requirements;
        let value = reqs.get(path).or_else(|| {
            let (head, tail) = path.split_once('.')?;
            reqs.get(head)?.get(tail)
        });
        match value.and_then(serde_json::Value::as_str) {
            None | Some("none") | Some("") => false,
            Some(_) => true,
        }
    }

    pub fn requires_address(&self) -> bool {
        self.requires("address")
    }

    pub fn requires_full_name(&self) -> bool {
        self.requires("user.fullName")
    }

    pub fn requires_birthday(&self) -> bool {
        self.requires("user.birthday")
    }

    pub fn requires_device(&self) -> bool {
        self.requires("device")
    }

    /// True when a new subscription stays `pending` until the SIM is used.
    pub fn activates_on_use(&self) -> bool {
        self.activation_trigger == "usageStarted"
    }

    /// `pln_123 (Gigs Global)`, for messages.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            self.id.clone()
        } else {
            format!("{} ({})", self.id, self.name)
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`, or null.
    #[serde(default)]
    pub birthday: Option<String>,
}

/// One of a user's addresses (`adr_…`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAddress {
    pub id: String,
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// The owner, as an id (or embedded); absent in some answers.
    #[serde(default)]
    pub user: Option<Ref>,
}

/// A reference to another object: the embedded object, or its bare id.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    Id(String),
    Object { id: String },
}

impl Ref {
    pub fn id(&self) -> &str {
        match self {
            Ref::Id(id) | Ref::Object { id } => id,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    /// `pending`, `initiated`, `active` or `ended`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub plan: Option<Ref>,
    #[serde(default)]
    pub sim: Option<Ref>,
    #[serde(default)]
    pub user: Option<Ref>,
}

impl Subscription {
    pub fn plan_id(&self) -> &str {
        self.plan.as_ref().map_or("", Ref::id)
    }

    pub fn user_id(&self) -> &str {
        self.user.as_ref().map_or("", Ref::id)
    }

    pub fn sim_id(&self) -> &str {
        self.sim.as_ref().map_or("", Ref::id)
    }

    /// True unless `ended`: a status Gigs adds later is taken to hold the
    /// SIM, the safe guess for a check that decides whether to create.
    pub fn is_live(&self) -> bool {
        self.status != "ended"
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SimSearch<'a> {
    pub iccid: &'a str,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserSearch<'a> {
    pub email: &'a str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<&'a str>,
}

/// A postal address, the body of a user-address create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub country: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription<'a> {
    pub plan: &'a str,
    pub sim: &'a str,
    pub user: &'a str,
    /// The id (`adr_…`) of one of the user's addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_address: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_requirements_read_dotted_and_nested_keys() {
        let flat: Plan = serde_json::from_str(
            r#"{"id":"pln_1","requirements":{"address":"present","user.fullName":"verified"}}"#,
        )
        .unwrap();
        assert!(flat.requires_address() && flat.requires_full_name());
        let nested: Plan = serde_json::from_str(
            r#"{"id":"pln_2","requirements":{"address":"none","user":{"fullName":"present"}}}"#,
        )
        .unwrap();
        assert!(!nested.requires_address() && nested.requires_full_name());
        let bare: Plan = serde_json::from_str(r#"{"id":"pln_3"}"#).unwrap();
        assert!(!bare.requires_address() && !bare.is_available());
    }

    #[test]
    fn birthday_device_and_activation_are_read_from_flat_keys() {
        let plan: Plan = serde_json::from_str(
            r#"{"id":"p","requirements":{"user.birthday":"present","device":"present"},
                "activationTrigger":"usageStarted"}"#,
        )
        .unwrap();
        assert!(plan.requires_birthday() && plan.requires_device());
        assert!(!plan.requires_full_name() && plan.activates_on_use());
        let nested: Plan =
            serde_json::from_str(r#"{"id":"q","requirements":{"user":{"birthday":"verified"}}}"#)
                .unwrap();
        assert!(nested.requires_birthday() && !nested.activates_on_use());
        let unknown: Plan =
            serde_json::from_str(r#"{"id":"r","requirements":{"device":"someday"}}"#).unwrap();
        assert!(unknown.requires_device(), "an unknown demand is a demand");
    }

    #[test]
    fn an_address_object_reads_with_missing_parts() {
        let adr: UserAddress = serde_json::from_str(
            r#"{"object":"userAddress","id":"adr_1","line1":"1 Main St","city":"Berlin",
                "country":"DE","user":"usr_1","state":null}"#,
        )
        .unwrap();
        assert_eq!(adr.user.as_ref().map(Ref::id), Some("usr_1"));
        assert_eq!((adr.state, adr.postal_code), (None, None));
    }

    #[test]
    fn old_active_status_means_available() {
        let plan: Plan =
            serde_json::from_str(r#"{"id":"p","status":"active","simTypes":["eSIM","pSIM"]}"#)
                .unwrap();
        assert!(plan.is_available() && plan.supports_psim());
    }

    #[test]
    fn a_subscription_embeds_objects_or_ids() {
        let sub: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","status":"pending","plan":{"id":"pln_1","name":"x"},"user":"usr_1"}"#,
        )
        .unwrap();
        assert_eq!((sub.plan_id(), sub.user_id()), ("pln_1", "usr_1"));
        assert!(sub.is_live());
    }

    #[test]
    fn a_list_without_items_is_empty() {
        let list: List<Sim> = serde_json::from_str(r#"{"object":"list"}"#).unwrap();
        assert!(list.items.is_empty());
    }
}
