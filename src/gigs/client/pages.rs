//! One page of a list, for a caller that walks a whole listing page by page
//! and decides between pages whether to go on: the snapshot of
//! [`crate::snapshot`] reads the project's SIMs, subscriptions and users this
//! way, so that it can show its progress, stop early, or give up when the
//! listing would cost more than looking rows up one by one. The page passes
//! through the one chokepoint ([`Client::call`]) like every other request.

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{encode_segment, Call, Client, Error};
use crate::gigs::retry::Resend;
use crate::gigs::types::List;

/// Items asked for per page: the most the API serves.
pub const PAGE_LIMIT: u32 = 200;

impl Client {
    /// One page of the list at `path` (which may carry filters), starting
    /// after the item `after` (a previous page's `moreItemsAfter`).
    pub fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        after: Option<&str>,
    ) -> Result<List<T>, Error> {
        let joiner = if path.contains('?') { '&' } else { '?' };
        let mut page_path = format!("{path}{joiner}limit={PAGE_LIMIT}");
        if let Some(cursor) = after {
            page_path.push_str("&after=");
            page_path.push_str(&encode_segment(cursor));
        }
        self.call(Call {
            method: Method::GET,
            path: page_path,
            body: None,
            idempotency_key: None,
            resend: Resend::Safe,
            after: None,
        })
    }
}
