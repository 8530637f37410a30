//! The records of the emulated project (SIMs, users, addresses,
//! subscriptions) and the JSON object each is served as.
//!
//! A SIM is the record there are millions of (`--inventory 1000000`), so it
//! is kept lean: boxed strings, a shared provider name, and its creation time
//! as a number, turned into text only when it is shown.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use serde_json::{json, Value};

use super::super::clock::rfc3339;

/// An ICCID of up to 30 digits in 16 bytes, its length in the top bits so
/// that leading zeros survive: a million SIMs keep their ICCIDs, and index
/// them, without a heap string each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PackedIccid(u128);

impl PackedIccid {
    const LENGTH_SHIFT: u32 = 100;

    /// `None` unless `digits` is 1 to 30 ASCII digits (every ICCID the
    /// emulator stocks or makes is 19 or 20).
    pub fn pack(digits: &str) -> Option<PackedIccid> {
        if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value = digits
            .bytes()
            .fold(0u128, |n, b| n * 10 + u128::from(b - b'0'));
        Some(PackedIccid(
            (digits.len() as u128) << Self::LENGTH_SHIFT | value,
        ))
    }

    pub fn unpack(self) -> String {
        let len = (self.0 >> Self::LENGTH_SHIFT) as usize;
        let value = self.0 & ((1u128 << Self::LENGTH_SHIFT) - 1);
        format!("{value:0len$}")
    }
}

/// What became of a stocked SIM besides its subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Usable,
    Retired,
    /// A status Gigs' example code knows; the reference lists only three.
    Deleted,
}

#[derive(Clone, Debug)]
pub struct Sim {
    pub id: Box<str>,
    pub iccid: PackedIccid,
    pub sim_type: &'static str,
    pub provider: Arc<str>,
    pub condition: Condition,
    pub created_at: SystemTime,
    /// When the SIM turns active; `None` while it has never been activated
    /// (or never will be, for a delay too long to represent).
    pub activates_at: Option<Instant>,
    /// The user of the SIM's subscription, for the `user` filter of `GET sims`.
    pub user: Option<Box<str>>,
    /// The SIM's live subscription: there is at most one.
    pub subscription: Option<Box<str>>,
}

impl Sim {
    pub fn status(&self, now: Instant) -> &'static str {
        match self.condition {
            Condition::Retired => "retired",
            Condition::Deleted => "deleted",
            Condition::Usable if self.activates_at.is_some_and(|at| at <= now) => "active",
            Condition::Usable => "inactive",
        }
    }

    /// The SIM as the API shows it, ready to serialise: a list of SIMs is
    /// written straight to bytes, without a `Value` per SIM.
    pub fn shown(&self, now: Instant) -> SimShown<'_> {
        SimShown {
            object: "sim",
            id: &self.id,
            iccid: self.iccid.unpack(),
            sim_type: self.sim_type,
            provider: &self.provider,
            status: self.status(now),
            created_at: rfc3339(self.created_at),
            metadata: Empty {},
        }
    }

    pub fn to_json(&self, now: Instant) -> Value {
        // Serialising plain strings into a `Value` cannot fail.
        serde_json::to_value(self.shown(now)).unwrap_or(Value::Null)
    }
}

#[derive(Serialize)]
pub struct SimShown<'a> {
    object: &'static str,
    id: &'a str,
    iccid: String,
    #[serde(rename = "type")]
    sim_type: &'static str,
    provider: &'a str,
    status: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    metadata: Empty,
}

/// `{}`.
#[derive(Serialize)]
pub struct Empty {}

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
    pub fn to_json(&self) -> Value {
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

/// The fields of an address, as a create gives them (already checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressFields {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

impl AddressFields {
    /// Two addresses are the same when their fields are, ignoring case and
    /// surrounding spaces: what `userAddressAlreadyExists` is about.
    pub fn same_as(&self, other: &AddressFields) -> bool {
        let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let eq_opt = |a: &Option<String>, b: &Option<String>| {
            eq(a.as_deref().unwrap_or(""), b.as_deref().unwrap_or(""))
        };
        eq(&self.line1, &other.line1)
            && eq_opt(&self.line2, &other.line2)
            && eq(&self.city, &other.city)
            && eq_opt(&self.postal_code, &other.postal_code)
            && eq_opt(&self.state, &other.state)
            && eq(&self.country, &other.country)
    }
}

#[derive(Clone, Debug)]
pub struct Address {
    pub id: String,
    pub user: String,
    pub fields: AddressFields,
    pub created_at: String,
}

impl Address {
    pub fn to_json(&self) -> Value {
        let f = &self.fields;
        json!({
            "object": "userAddress",
            "id": self.id,
            "line1": f.line1,
            "line2": f.line2,
            "city": f.city,
            "postalCode": f.postal_code,
            "state": f.state,
            "country": f.country,
            "user": self.user,
            "createdAt": self.created_at,
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
    pub user_address: Option<String>,
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
    pub fn to_json(&self, now: Instant, plan: Value, sim: Value, user: Value) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_iccid_unpacks_to_the_same_digits() {
        for digits in [
            "89883070000007537119",
            "8988307000000753711",
            "00000000000000000001",
            "0",
            "999999999999999999999999999999",
        ] {
            let packed = PackedIccid::pack(digits).expect("digits pack");
            assert_eq!(packed.unpack(), digits);
        }
        // Leading zeros make another ICCID.
        assert_ne!(PackedIccid::pack("0123"), PackedIccid::pack("123"));
    }

    #[test]
    fn only_1_to_30_digits_pack() {
        for not in ["", "8988307F", "89 88", "1234567890123456789012345678901"] {
            assert_eq!(PackedIccid::pack(not), None, "{not:?}");
        }
    }
}
