//! User addresses: a resource owned by a user (`/users/{user}/addresses`),
//! created once per user and address, listed newest first, read by id. A
//! subscription create names one of them by id where its plan requires it.

use serde_json::Value;

use super::super::clock::rfc3339;
use super::super::error::ApiError;
use super::records::{Address, AddressFields};
use super::table::{Lister, Page, Scope};
use super::{fresh_id, Now, State};

impl State {
    fn owner(&self, user: &str) -> Result<(), ApiError> {
        if self.users.contains(user) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("No user has the id {user:?}")))
        }
    }

    /// The fields are checked already (`userAddressInvalid` is the API
    /// layer's); here only the duplicate is refused.
    pub fn create_address(
        &mut self,
        user: &str,
        fields: AddressFields,
        now: Now,
    ) -> Result<Value, ApiError> {
        self.owner(user)?;
        let mine = self
            .addresses_by_user
            .get(user)
            .map_or(&[][..], Vec::as_slice);
        let duplicate = mine
            .iter()
            .map(|&i| &self.addresses.items[i])
            .find(|a| a.fields.same_as(&fields));
        if let Some(existing) = duplicate {
            let message = format!("Address already exists: {}", existing.id);
            return Err(ApiError::invalid_because(
                "userAddressAlreadyExists",
                message,
            ));
        }
        let addresses = &self.addresses;
        let id = fresh_id(&mut self.rng, "adr_", |id| addresses.contains(id));
        let address = Address {
            id: id.clone(),
            user: user.to_owned(),
            fields,
            created_at: rfc3339(now.wall),
        };
        let body = address.to_json();
        let index = self.addresses.insert(&id, address);
        self.addresses_by_user
            .entry(user.to_owned())
            .or_default()
            .push(index);
        self.counters.addresses_created += 1;
        Ok(body)
    }

    pub fn list_addresses(&self, user: &str, page: &Page) -> Result<Value, ApiError> {
        self.owner(user)?;
        let mine = self
            .addresses_by_user
            .get(user)
            .map_or(&[][..], Vec::as_slice);
        let lister = Lister {
            table: &self.addresses,
            what: "address of this user",
            keep: |_: &Address| true,
            id_of: |a: &Address| a.id.as_str(),
            render: Address::to_json,
        };
        lister.page(Scope::Only(mine), page)
    }

    /// Another user's address is as absent as an unknown one.
    pub fn get_address(&self, user: &str, id: &str) -> Result<Value, ApiError> {
        self.owner(user)?;
        self.addresses
            .get(id)
            .filter(|a| a.user == user)
            .map(Address::to_json)
            .ok_or_else(|| ApiError::not_found(format!("No address of {user} has the id {id:?}")))
    }
}
