//! The project's users by email, listed only when a row asks for an email.
//!
//! How many distinct emails the rows will ask for is not known before they
//! run, so this listing is read as it goes: `snapshot` reads it to its end
//! at the first email; `auto` reads one more page per email asked for (no
//! faster than the searches it may save are spent), and an email the pages
//! read so far do not hold is searched, until the listing ends. So its worst
//! case is twice the searches, or twice the pages.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::listing::{give_up, Listing, Paged};
use super::{End, Read, Resolve};
use crate::gigs::types::User;
use crate::gigs::{Client, Error};
use crate::onboard::email_key;

/// The users listing, shared by every worker.
pub struct Users {
    client: Client,
    strategy: Resolve,
    state: Mutex<State>,
}

struct State {
    by_email: HashMap<String, User>,
    /// Emails listed under more than one user id (emails compare without
    /// case): the listing cannot say which is the row's, a search does.
    ambiguous: HashSet<String>,
    listing: Listing,
    /// Emails asked for so far (each once: the onboarder keeps answers).
    asked: u64,
    end: End,
}

impl Users {
    pub(super) fn new(client: Client, strategy: Resolve) -> Self {
        Users {
            client,
            strategy,
            state: Mutex::new(State {
                by_email: HashMap::new(),
                ambiguous: HashSet::new(),
                listing: Listing::new("/users", u64::MAX),
                asked: 0,
                end: End::Skipped,
            }),
        }
    }

    /// See [`super::Snapshot::user_by_email`]. The lock is held while a page
    /// is read: workers asking for emails wait for it rather than each
    /// reading pages of their own.
    pub(super) fn by_email(&self, email: &str) -> Result<Option<Option<User>>, Error> {
        let key = email_key(email);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.asked += 1;
        loop {
            if state.ambiguous.contains(&key) {
                return Ok(None);
            }
            if let Some(user) = state.by_email.get(&key) {
                return Ok(Some(Some(user.clone())));
            }
            match state.end {
                End::Complete => return Ok(Some(None)),
                End::Failed(_) => return Ok(None),
                _ => {}
            }
            if self.strategy == Resolve::Auto && state.listing.read.pages >= state.asked {
                return Ok(None);
            }
            state.end = End::OverBudget;
            let page: Vec<User> = match state.listing.next(&self.client) {
                Ok(Paged::Items(items)) => items,
                Ok(Paged::End(end)) => {
                    state.end = end;
                    continue;
                }
                Err(err) => {
                    state.end = give_up(err)?;
                    continue;
                }
            };
            page.into_iter().for_each(|user| state.keep(user));
            state.listing.read.kept = state.by_email.len() as u64;
            if state.listing.finished() {
                state.end = End::Complete;
            }
        }
    }

    /// What the listing came to, for the summary.
    pub(super) fn read(&self) -> Read {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Read {
            end: state.end.clone(),
            ..state.listing.read.clone()
        }
    }
}

impl State {
    /// Keeps `user` by its own email (nothing else is trusted); an email
    /// seen again under another user id is kept for neither.
    fn keep(&mut self, user: User) {
        let Some(email) = user.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return;
        };
        let key = email_key(email);
        if self.ambiguous.contains(&key) {
            return;
        }
        match self.by_email.get(&key) {
            Some(kept) if kept.id != user.id => {
                self.by_email.remove(&key);
                self.ambiguous.insert(key);
            }
            Some(_) => {}
            None => {
                self.by_email.insert(key, user);
            }
        }
    }
}
