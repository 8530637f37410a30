//! Lists, page by page: the one place a page is asked for and a cursor is
//! followed. [`Client::list_all`] reads a list to its end for a caller that
//! wants every item (a search, a SIM's subscriptions); [`Client::list_page`]
//! hands out one page for a caller that decides between pages whether to go
//! on (the run's snapshot of the project: it shows its progress, stops
//! early, or gives up when the listing would cost more than lookups). Both
//! follow `moreItemsAfter` with a [`Cursor`], which refuses a list that loops.

use std::collections::HashSet;

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{cut, encode_segment, Call, Client, Error};
use crate::gigs::retry::Resend;
use crate::gigs::types::List;

/// Items asked for per page: the most the API serves.
pub const PAGE_LIMIT: u32 = 200;

/// The most pages one list may take (20 million items at full pages).
pub const MAX_PAGES: usize = 100_000;

/// Where a walk through a list stands: the cursor of the next page, and
/// every cursor seen, so that a list whose cursor comes back is not read
/// forever, nor cut short silently.
#[derive(Debug, Default)]
pub struct Cursor {
    after: Option<String>,
    seen: HashSet<String>,
}

impl Cursor {
    /// The `after` of the next page (`None` for the first).
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Pages followed so far.
    pub fn pages(&self) -> usize {
        self.seen.len()
    }

    /// Takes a page's `moreItemsAfter`: `Ok(true)` when another page follows,
    /// `Ok(false)` at the end, and `Endless` when the list loops.
    pub fn advance(&mut self, next: Option<String>) -> Result<bool, Endless> {
        let Some(next) = next else {
            return Ok(false);
        };
        if self.seen.len() >= MAX_PAGES || !self.seen.insert(next.clone()) {
            return Err(Endless {
                cursor: cut(&next, 80),
                pages: self.seen.len(),
            });
        }
        self.after = Some(next);
        Ok(true)
    }
}

/// A list whose cursor comes back, or that runs past [`MAX_PAGES`].
#[derive(Debug, thiserror::Error)]
#[error("a list whose pages do not end (cursor {cursor} after {pages} pages)")]
pub struct Endless {
    /// The cursor that came back, cut short for messages.
    cursor: String,
    /// Pages followed before it.
    pages: usize,
}

impl Client {
    /// One page of the list at `path` (which may carry filters), after the
    /// item `after` (a previous page's `moreItemsAfter`).
    pub fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        after: Option<&str>,
    ) -> Result<List<T>, Error> {
        self.page(Method::GET, path, None, after)
    }

    /// Every item of a list, page after page through `moreItemsAfter` (the
    /// id of a page's last item, passed back as `after`). A list that loops
    /// is a protocol error.
    pub(super) fn list_all<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut cursor = Cursor::default();
        loop {
            let page: List<T> = self.page(method.clone(), path, body.clone(), cursor.after())?;
            items.extend(page.items);
            match cursor.advance(page.more_items_after) {
                Ok(true) => {}
                Ok(false) => return Ok(items),
                Err(endless) => {
                    return Err(Error::Protocol {
                        method,
                        path: path.to_owned(),
                        status: 200,
                        message: endless.to_string(),
                        attempts: 1,
                        next_try: None,
                    })
                }
            }
        }
    }

    /// One page. A search's first page is asked as the docs show it, bare;
    /// every other page asks for [`PAGE_LIMIT`] items.
    fn page<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        after: Option<&str>,
    ) -> Result<List<T>, Error> {
        let joiner = if path.contains('?') { '&' } else { '?' };
        let mut page_path = match (after, method == Method::POST) {
            (None, true) => path.to_owned(),
            _ => format!("{path}{joiner}limit={PAGE_LIMIT}"),
        };
        if let Some(cursor) = after {
            page_path.push_str("&after=");
            page_path.push_str(&encode_segment(cursor));
        }
        self.call(Call {
            method,
            path: page_path,
            body,
            idempotency_key: None,
            resend: Resend::Safe,
            after: None,
        })
    }
}
