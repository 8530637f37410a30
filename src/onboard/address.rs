//! A row's address as one of its user's addresses. Gigs keeps addresses as a
//! resource owned by a user (`/users/{user}/addresses`, ids `adr_…`), and a
//! subscription create takes such an id. So before subscribing on a plan
//! that requires an address, the row's `address_*` cells become one of the
//! user's addresses: the user's addresses are listed (once per user per run)
//! and one that matches is reused, else the address is created.
//!
//! Each user and address gets one address however many rows share it and
//! however many run at once: a per-(user, address) cell lets one row settle
//! it while the others wait for its answer. A create whose answer was lost
//! is settled by listing the user's addresses before anything is sent again,
//! as for users and subscriptions; `userAddressAlreadyExists` is settled by
//! listing too.

use super::{idempotency_key, Failure, OnceMap, Settings, Step};
use crate::gigs::client::cut;
use crate::gigs::types::{Address, UserAddress};
use crate::gigs::{Client, Error};

/// The addresses a run has listed and settled.
pub(super) struct Addresses {
    /// Per user id: the user's addresses, listed once per run.
    listed: OnceMap<Vec<UserAddress>>,
    /// Per user id and address key: the `adr_…` id the row sends.
    settled: OnceMap<String>,
}

impl Addresses {
    pub(super) fn new() -> Self {
        Addresses {
            listed: OnceMap::new(),
            settled: OnceMap::new(),
        }
    }

    /// The id of `user`'s address that matches `address`, if the user has
    /// it (a dry run's question: nothing is created).
    pub(super) fn find(
        &self,
        client: &Client,
        user: &str,
        address: &Address,
    ) -> Result<Option<String>, Step> {
        let listed = self.list(client, user)?;
        Ok(same_address(&listed, address).map(|found| found.id.clone()))
    }

    fn list(&self, client: &Client, user: &str) -> Result<Vec<UserAddress>, Step> {
        self.listed
            .get_or_init(user, || Ok(client.list_addresses(user)?))
    }

    /// The id of `user`'s address that matches `address`, made if need be.
    pub(super) fn ensure(
        &self,
        client: &Client,
        settings: &Settings,
        user: &str,
        address: &Address,
    ) -> Result<String, Step> {
        let key = format!("{user}\n{}", address_key(address));
        self.settled.get_or_init(&key, || {
            let listed = self.list(client, user)?;
            if let Some(found) = same_address(&listed, address) {
                return Ok(found.id.clone());
            }
            create(client, settings, user, address)
        })
    }
}

/// Creates the address; a create that may have landed, or one the API says
/// exists already, is settled by listing the user's addresses again.
fn create(
    client: &Client,
    settings: &Settings,
    user: &str,
    address: &Address,
) -> Result<String, Step> {
    let key = settings
        .idempotency_keys
        .then(|| idempotency_key(&["address", &settings.project, user, &address_key(address)]));
    let mut after = None;
    loop {
        let err = match client.create_address(user, address, key.as_deref(), after) {
            Ok(created) if is_this(&created, user, address) => return Ok(created.id),
            // Taken, but answered with another address: the user's list
            // says which one is the row's.
            Ok(other) => {
                let listed = client.list_addresses(user)?;
                return match same_address(&listed, address) {
                    Some(found) => Ok(found.id.clone()),
                    None => Err(Failure::Api(format!(
                        "the address create answered with address {}, which is not the \
                         row's, and none of the user's {} addresses is",
                        cut(&other.id, 60),
                        listed.len()
                    ))
                    .into()),
                };
            }
            Err(err) => err,
        };
        if err.code() == Some("userAddressInvalid") {
            return Err(Failure::AddressInvalid {
                message: api_message(&err),
            }
            .into());
        }
        let exists = err.code() == Some("userAddressAlreadyExists");
        if err.is_auth() || err.is_interrupted() || !(exists || err.maybe_landed()) {
            return Err(err.into());
        }
        let listed = client.list_addresses(user)?;
        if let Some(found) = same_address(&listed, address) {
            return Ok(found.id.clone());
        }
        if exists {
            // Gigs may compare addresses more loosely than simboard: one
            // address alike in street, city and country is the one it means.
            if let [found] = alike(&listed, address).as_slice() {
                return Ok(found.id.clone());
            }
            return Err(Failure::Api(format!(
                "{err}; yet none of the user's {} addresses matches the row's",
                listed.len()
            ))
            .into());
        }
        // Nothing there: the create did not land; send it again if the
        // budget allows.
        after = Some(err.next_try().ok_or(err)?);
    }
}

/// True when a create's answer is the address asked for: the user's, and
/// the same in every part it shows (an answer showing none is taken as is).
fn is_this(created: &UserAddress, user: &str, address: &Address) -> bool {
    let owner = created
        .user
        .as_ref()
        .map_or(true, |owner| owner.id() == user);
    let shown = created.line1.is_some() || created.city.is_some() || created.country.is_some();
    owner && (!shown || listed_key(created) == address_key(address))
}

/// What the API said about the address, or the whole error.
fn api_message(err: &Error) -> String {
    match err {
        Error::Api(api) if !api.message.is_empty() => api.message.clone(),
        other => other.to_string(),
    }
}

/// One part of an address as compared: no surrounding spaces, any case; an
/// empty part is a missing one.
fn part(value: Option<&str>) -> String {
    value.unwrap_or_default().trim().to_lowercase()
}

/// The address as a comparable key: every part, compared loosely.
pub(super) fn address_key(address: &Address) -> String {
    [
        Some(address.line1.as_str()),
        address.line2.as_deref(),
        Some(address.city.as_str()),
        address.postal_code.as_deref(),
        address.state.as_deref(),
        Some(address.country.as_str()),
    ]
    .map(part)
    .join("\n")
}

/// The key of an address as the API lists it.
fn listed_key(listed: &UserAddress) -> String {
    [
        &listed.line1,
        &listed.line2,
        &listed.city,
        &listed.postal_code,
        &listed.state,
        &listed.country,
    ]
    .map(|p| part(p.as_deref()))
    .join("\n")
}

/// The listed address equal to `address` in every part.
fn same_address<'a>(listed: &'a [UserAddress], address: &Address) -> Option<&'a UserAddress> {
    let key = address_key(address);
    listed.iter().find(|a| listed_key(a) == key)
}

/// The listed addresses with the same line 1, city and country.
fn alike<'a>(listed: &'a [UserAddress], address: &Address) -> Vec<&'a UserAddress> {
    let wanted = [
        part(Some(&address.line1)),
        part(Some(&address.city)),
        part(Some(&address.country)),
    ];
    listed
        .iter()
        .filter(|a| {
            [
                part(a.line1.as_deref()),
                part(a.city.as_deref()),
                part(a.country.as_deref()),
            ] == wanted
        })
        .collect()
}

/// True for a two-letter code (ISO 3166-1 alpha-2 has only such codes).
pub(super) fn is_country_code(country: &str) -> bool {
    country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(json: &str) -> UserAddress {
        serde_json::from_str(json).unwrap()
    }

    fn address() -> Address {
        Address {
            line1: "1 Main St".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: Some("10115".into()),
            state: None,
            country: "DE".into(),
        }
    }

    #[test]
    fn a_listed_address_matches_ignoring_case_and_surrounding_spaces() {
        let same = listed(
            r#"{"id":"adr_1","line1":" 1 MAIN st ","line2":null,"city":"berlin",
                "postalCode":"10115 ","state":"","country":"de"}"#,
        );
        let other = listed(
            r#"{"id":"adr_2","line1":"1 Main St","line2":"Flat 2","city":"Berlin",
                "postalCode":"10115","country":"DE"}"#,
        );
        let all = [other, same];
        assert_eq!(
            same_address(&all, &address()).map(|a| a.id.as_str()),
            Some("adr_1")
        );
    }

    #[test]
    fn an_address_differing_in_any_part_is_another_address() {
        let elsewhere = listed(
            r#"{"id":"adr_3","line1":"1 Main St","city":"Berlin","postalCode":"10117",
                "country":"DE"}"#,
        );
        assert!(same_address(std::slice::from_ref(&elsewhere), &address()).is_none());
        assert_eq!(
            alike(&[elsewhere], &address()).len(),
            1,
            "alike in street, city and country"
        );
    }

    #[test]
    fn keys_ignore_case_and_spaces_but_not_parts() {
        let mut shouted = address();
        shouted.line1 = "  1 MAIN ST".into();
        shouted.country = "de".into();
        assert_eq!(address_key(&shouted), address_key(&address()));
        shouted.line2 = Some("Flat 2".into());
        assert_ne!(address_key(&shouted), address_key(&address()));
    }

    proptest::proptest! {
        #[test]
        fn an_address_matches_itself_however_it_is_cased_and_padded(
            line1 in "[A-Za-z0-9 ]{1,20}",
            city in "[A-Za-z ]{1,12}",
            country in "[A-Z]{2}",
            pad in " {0,3}",
        ) {
            let plain = Address { line1, city, country, ..address() };
            let shouted = Address {
                line1: format!("{pad}{}{pad}", plain.line1.to_uppercase()),
                city: plain.city.to_lowercase(),
                country: format!("{}{pad}", plain.country.to_lowercase()),
                ..plain.clone()
            };
            proptest::prop_assert_eq!(address_key(&shouted), address_key(&plain));
        }
    }

    #[test]
    fn a_country_is_two_letters() {
        assert!(is_country_code("DE") && is_country_code("us"));
        for bad in ["DEU", "D", "", "Germany", "D1", "ÄÖ"] {
            assert!(!is_country_code(bad), "{bad:?}");
        }
    }
}
