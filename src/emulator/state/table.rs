//! Records in creation order, the indexes over them, and the cutting of one
//! list page.
//!
//! A page is cut by position, never by scanning the whole table: the cursor
//! is found through the id index, and the page is read from there, over the
//! whole table or over the positions an index gives for a filter (the
//! subscriptions of one SIM, the addresses of one user). So a page costs about
//! `limit` records, however large the project, and the state lock is held
//! that long only.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::super::error::ApiError;

/// Records in creation order with an index by id. Creation order is the
/// order lists are cut in (newest first), and cursors are positions in it.
#[derive(Debug)]
pub struct Table<T> {
    pub items: Vec<T>,
    by_id: HashMap<Box<str>, u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub fn insert(&mut self, id: &str, item: T) -> usize {
        let index = self.items.len();
        self.items.push(item);
        // Positions fit in u32: the emulator is not meant for 4 billion records,
        // and the narrower index halves its memory at a million SIMs.
        self.by_id.insert(id.into(), index as u32);
        index
    }

    /// Room for `more` records, so that a large stock grows the table once
    /// instead of doubling (and holding the old and new copies at once).
    pub fn reserve(&mut self, more: usize) {
        self.items.reserve_exact(more);
        self.by_id.reserve(more);
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).map(|&i| i as usize)
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.position(id).map(|i| &self.items[i])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// Where a list page starts: `after` and `before` are ids of the collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Start,
    After(String),
    Before(String),
}

#[derive(Clone, Debug)]
pub struct Page {
    pub limit: usize,
    pub cursor: Cursor,
}

/// The records a list may show, in creation order: all of them, or the
/// (ascending) positions an index holds for a filter.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    All,
    Only(&'a [usize]),
}

/// One page, before it is shown: positions in the table, in list order.
pub struct Cut {
    pub records: Vec<usize>,
    pub after: Option<String>,
    pub before: Option<String>,
}

/// How to show the records of one list.
pub struct Lister<'t, T, K, R> {
    pub table: &'t Table<T>,
    /// `SIM`, `plan`, ...: for the message about an unknown cursor.
    pub what: &'static str,
    pub keep: K,
    pub id_of: fn(&T) -> &str,
    pub render: R,
}

impl<T, K, R> Lister<'_, T, K, R>
where
    K: Fn(&T) -> bool,
    R: Fn(&T) -> Value,
{
    /// Cuts one page, newest first, out of the records of `scope` that
    /// `keep` accepts, with its `moreItemsAfter`/`moreItemsBefore` ids.
    pub fn page(&self, scope: Scope<'_>, page: &Page) -> Result<Value, ApiError> {
        let cut = self.cut(scope, page)?;
        let items = cut
            .records
            .iter()
            .map(|&i| (self.render)(&self.table.items[i]))
            .collect();
        Ok(list_json(items, cut.after, cut.before))
    }

    /// The positions of one page's records, in list order, and its cursors.
    pub fn cut(&self, scope: Scope<'_>, page: &Page) -> Result<Cut, ApiError> {
        let len = match scope {
            Scope::All => self.table.len(),
            Scope::Only(positions) => positions.len(),
        };
        // `slot` numbers the records of the scope; `record` maps it back.
        let record = |slot: usize| match scope {
            Scope::All => slot,
            Scope::Only(positions) => positions[slot],
        };
        let kept = |slot: &usize| (self.keep)(&self.table.items[record(*slot)]);
        // One more than the limit is read, to know whether more follow.
        let take = |slots: &mut dyn Iterator<Item = usize>| -> (Vec<usize>, bool) {
            let mut taken: Vec<usize> = slots.filter(kept).take(page.limit + 1).collect();
            let more = taken.len() > page.limit;
            taken.truncate(page.limit);
            (taken, more)
        };
        let (slots, more_after, more_before) = match &page.cursor {
            Cursor::Start => {
                let (slots, more) = take(&mut (0..len).rev());
                (slots, more, false)
            }
            Cursor::After(id) => {
                let at = self.cursor_slot(scope, id, "after")?;
                let (slots, more) = take(&mut (0..at).rev());
                (slots, more, (at..len).any(|s| kept(&s)))
            }
            Cursor::Before(id) => {
                let at = self.cursor_slot(scope, id, "before")?;
                let (mut slots, more) = take(&mut (at + 1..len));
                slots.reverse();
                (slots, (0..=at).rev().any(|s| kept(&s)), more)
            }
        };
        let records: Vec<usize> = slots.into_iter().map(record).collect();
        let id = |i: &usize| (self.id_of)(&self.table.items[*i]).to_owned();
        Ok(Cut {
            after: records.last().filter(|_| more_after).map(id),
            before: records.first().filter(|_| more_before).map(id),
            records,
        })
    }

    /// The slot of the cursor's record in the scope: a 422 when the id is
    /// unknown or not in the scope (an address of another user, say).
    fn cursor_slot(&self, scope: Scope<'_>, id: &str, name: &str) -> Result<usize, ApiError> {
        let what = self.what;
        let unknown = || ApiError::invalid(format!("`{name}`: no {what} has the id {id:?}"));
        let position = self.table.position(id).ok_or_else(unknown)?;
        match scope {
            Scope::All => Ok(position),
            Scope::Only(positions) => positions.binary_search(&position).map_err(|_| unknown()),
        }
    }
}

pub fn list_json(items: Vec<Value>, after: Option<String>, before: Option<String>) -> Value {
    json!({
        "object": "list",
        "items": items,
        "moreItemsAfter": after,
        "moreItemsBefore": before,
    })
}
