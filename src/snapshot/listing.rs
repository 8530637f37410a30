//! One listing read page by page: the cursor followed through
//! `moreItemsAfter` by the client's own [`Cursor`], the pages counted against
//! a budget, and a list whose cursor comes back given up instead of read
//! forever.

use serde::de::DeserializeOwned;

use super::{End, Read};
use crate::gigs::client::Cursor;
use crate::gigs::{Client, Error};

/// A listing being read.
pub(super) struct Listing {
    path: String,
    budget: u64,
    cursor: Cursor,
    /// No page follows the last one read.
    finished: bool,
    /// Ended early (a cursor that came back).
    broken: Option<End>,
    pub(super) read: Read,
}

/// The next step of a listing.
pub(super) enum Paged<T> {
    Items(Vec<T>),
    End(End),
}

impl Listing {
    pub(super) fn new(path: &str, budget: u64) -> Self {
        Listing {
            path: path.to_owned(),
            budget,
            cursor: Cursor::default(),
            finished: false,
            broken: None,
            read: Read::default(),
        }
    }

    /// True once the last page has been read.
    pub(super) fn finished(&self) -> bool {
        self.finished
    }

    /// The next page's items, or how the listing ended. A refused token or
    /// an interruption is an error; any other failure ends the listing
    /// ([`End::Failed`]), for the rows to be looked up one by one.
    pub(super) fn next<T: DeserializeOwned>(&mut self, client: &Client) -> Result<Paged<T>, Error> {
        if let Some(end) = &self.broken {
            return Ok(Paged::End(end.clone()));
        }
        if self.finished {
            return Ok(Paged::End(End::Complete));
        }
        if self.read.pages >= self.budget {
            return Ok(Paged::End(End::OverBudget));
        }
        let page = client.list_page::<T>(&self.path, self.cursor.after())?;
        self.read.pages += 1;
        self.read.items += page.items.len() as u64;
        match self.cursor.advance(page.more_items_after) {
            Ok(true) => {}
            Ok(false) => self.finished = true,
            Err(why) => self.broken = Some(End::Failed(format!("{}: {why}", self.path))),
        }
        Ok(Paged::Items(page.items))
    }
}

/// A listing that fails is given up, and its rows are looked up one by one;
/// only a refused token or an interruption stops the run.
pub(super) fn give_up(err: Error) -> Result<End, Error> {
    if err.is_auth() || err.is_interrupted() {
        Err(err)
    } else {
        Ok(End::Failed(err.to_string()))
    }
}
