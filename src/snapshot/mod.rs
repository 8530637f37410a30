//! Snapshot resolution: the project read once, rows resolved in memory.
//!
//! Looking a row up costs a call (`sims/search`, then the SIM's
//! subscriptions, then the row's email); a list page costs one call too but
//! answers 200 objects. So before the first row, the run may page through
//! the project's SIMs and live subscriptions, and, when rows name emails, its
//! users, and keep an index of each: ICCID → SIM, SIM → live subscriptions,
//! email → user. Rows are then resolved from the indexes; only creates and
//! the confirmation of a miss cost calls. An ICCID the snapshot does not hold
//! is searched before it is called `sim_not_found`: the SIM may have been
//! added after its page was read.
//!
//! [`Resolve`] chooses: `search` looks every row up (no snapshot), `snapshot`
//! reads every listing to its end, and `auto` reads a listing only as far as
//! it is sure to pay off (see [`budget`] and docs/run.md): each listing is
//! read up to as many pages as the calls it would save are sure to be, and
//! given up when it is longer, the pages read still answering the rows they
//! hold. So `auto` never costs more than about twice the cheaper of the two.
//!
//! The snapshot is a view at the start of the run. What changes later is
//! settled as without it: a SIM subscribed by another client after its page
//! was read makes the create answer `simAlreadyUsed`, and the SIM is then
//! looked up, as always. No filter is trusted: every item kept is checked
//! (its ICCID, its SIM, its status, its email).

mod index;
mod listing;
mod users;

use std::collections::{HashMap, HashSet};

use crate::gigs::types::{Sim, Subscription, User};
use crate::gigs::{Client, Error};
use crate::summary::thousands;

use index::{Key, Keys, Sims};
use listing::{give_up, Listing, Paged};
pub use users::Users;

/// How rows are resolved: `--resolve`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resolve {
    /// A listing is read while it is sure to cost less than the lookups it saves.
    #[default]
    Auto,
    /// Every listing read to its end before the first row.
    Snapshot,
    /// Every row looked up on its own.
    Search,
}

impl Resolve {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolve::Auto => "auto",
            Resolve::Snapshot => "snapshot",
            Resolve::Search => "search",
        }
    }
}

/// What the rows of the run will ask for: their distinct valid ICCIDs (rows
/// kept by `--resume` left out), collected by the pre-pass.
#[derive(Debug, Default)]
pub struct Wanted {
    iccids: Keys,
}

impl Wanted {
    pub fn add(&mut self, iccid: &str) {
        self.iccids.insert(iccid);
    }

    pub fn len(&self) -> usize {
        self.iccids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.iccids.len() == 0
    }
}

/// The most pages `auto` reads of a listing that saves `lookups` calls: as
/// many pages as lookups. Read to its end within that, the listing cost no
/// more than the lookups would have; given up at that point, it cost as much
/// again as the lookups it then leaves to the rows. Hence the rule's worst
/// case: twice the calls of per-row lookups, and never more than twice the
/// pages of a full snapshot either (the listing is given up only when it is
/// longer than the lookups it would save).
pub fn budget(strategy: Resolve, lookups: usize) -> u64 {
    match strategy {
        Resolve::Auto => lookups as u64,
        Resolve::Snapshot => u64::MAX,
        Resolve::Search => 0,
    }
}

/// What a listing came to, for the summary.
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub pages: u64,
    /// Items the listing served (all of them, kept or not).
    pub items: u64,
    /// Items kept in the index.
    pub kept: u64,
    pub end: End,
}

/// How a listing ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum End {
    /// Not read: nothing to save, or `--resolve search`.
    #[default]
    Skipped,
    /// Read to its last page.
    Complete,
    /// Stopped once every ICCID of the manifest had been seen.
    AllSeen,
    /// Given up at its budget: the rows not in it are looked up.
    OverBudget,
    /// A page could not be read (the error): the rows are looked up.
    Failed(String),
}

/// SIM id → the SIM's live subscriptions, newest first.
type BySim = HashMap<String, Vec<Subscription>>;

/// The indexes of one run.
pub struct Snapshot {
    sims: Sims,
    sims_read: Read,
    /// SIM id → its live subscriptions, for every SIM of `sims`, when the
    /// subscriptions were listed to their end.
    subscriptions: Option<BySim>,
    subscriptions_read: Read,
    users: Users,
}

/// A SIM's subscriptions need looking at before a create only when the SIM
/// is active, or in a dry run (which creates nothing to find out): as the
/// per-row path does in [`crate::onboard`].
fn needs_subscriptions(sim: &Sim, dry_run: bool) -> bool {
    sim.is_psim() && (sim.status == "active" || (dry_run && sim.status == "inactive"))
}

impl Snapshot {
    /// Reads the project as far as `strategy` says, telling `show` how many
    /// items it has read. `None` with `--resolve search`. Only a refused
    /// token or an interruption is an error: a listing that fails otherwise
    /// is given up, and its rows looked up one by one.
    pub fn take(
        client: &Client,
        strategy: Resolve,
        wanted: &Wanted,
        dry_run: bool,
        show: &dyn Fn(&str),
    ) -> Result<Option<Snapshot>, Error> {
        if strategy == Resolve::Search || wanted.is_empty() {
            return Ok(None);
        }
        let (sims, sims_read) = read_sims(client, strategy, wanted, show)?;
        let needing = sims
            .iter()
            .filter(|sim| needs_subscriptions(sim, dry_run))
            .count();
        // Nothing to save when no SIM read needs a lookup: the index only
        // ever answers for SIMs read (see `live_subscriptions`), so a SIM
        // the listing missed is looked up whatever the subscriptions say.
        let (subscriptions, subscriptions_read) = if needing == 0 {
            (None, Read::default())
        } else {
            let ids = sims.ids();
            read_subscriptions(client, budget(strategy, needing), &ids, show)?
        };
        Ok(Some(Snapshot {
            users: Users::new(client.clone(), strategy),
            sims,
            sims_read,
            subscriptions,
            subscriptions_read,
        }))
    }

    /// The SIM with this ICCID, when the snapshot holds it. `None` is no
    /// answer: the row searches (a miss is confirmed before it is believed).
    pub fn sim(&self, iccid: &str) -> Option<Sim> {
        self.sims.get(&Key::of(iccid))
    }

    /// The live subscriptions of a SIM the snapshot holds, newest first;
    /// `None` when the snapshot cannot say (the row looks them up).
    pub fn live_subscriptions(&self, sim: &Sim) -> Option<Vec<Subscription>> {
        let index = self.subscriptions.as_ref()?;
        // Only SIMs read with the SIMs are covered: another SIM's
        // subscriptions were not kept.
        let known = self.sims.get(&Key::of(&sim.iccid))?;
        if known.id != sim.id {
            return None;
        }
        Some(index.get(&sim.id).cloned().unwrap_or_default())
    }

    /// The user with this email: `Some(None)` when the listing of users,
    /// read to its end, has nobody with it; `None` when the row must search.
    pub fn user_by_email(&self, email: &str) -> Result<Option<Option<User>>, Error> {
        self.users.by_email(email)
    }

    /// What the snapshot held, a line per listing, for the summary.
    fn describe(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "  SIMs: {}",
                describe("SIMs", "of this manifest", &self.sims_read)
            ),
            format!(
                "  live subscriptions: {}",
                describe("subscriptions", "of its SIMs", &self.subscriptions_read)
            ),
        ];
        let users = self.users.read();
        if users.end != End::Skipped {
            lines.push(format!(
                "  users: {}",
                describe("users", "by email", &users)
            ));
        }
        lines
    }
}

/// The summary's lines on resolution: the strategy, the calls per SIM (every
/// request of the run, `calls`, over the `rows` it resolved), and what the
/// snapshot held.
pub fn describe_run(
    snapshot: Option<&Snapshot>,
    strategy: Resolve,
    calls: u64,
    rows: u64,
) -> Vec<String> {
    let per_sim = if rows > 0 {
        format!("{:.3} calls per SIM", calls as f64 / rows as f64)
    } else {
        "no SIM to resolve".to_owned()
    };
    let how = match (strategy, snapshot) {
        (Resolve::Search, _) => "every row looked up on its own",
        (_, None) => "nothing to read",
        (Resolve::Auto, Some(_)) => "the project read where it pays off",
        (_, Some(_)) => "the project read first",
    };
    let mut lines = vec![format!("resolve: {} ({how}): {per_sim}", strategy.as_str())];
    lines.extend(snapshot.map(Snapshot::describe).unwrap_or_default());
    lines
}

/// One listing's line in the summary.
fn describe(what: &str, kept: &str, read: &Read) -> String {
    // `what` is plural: "1 SIM", "2 SIMs".
    let what = match read.items {
        1 => what.strip_suffix('s').unwrap_or(what),
        _ => what,
    };
    let pages = format!(
        "{} {what} read in {} {}, {} kept ({kept})",
        thousands(read.items),
        thousands(read.pages),
        if read.pages == 1 { "page" } else { "pages" },
        thousands(read.kept)
    );
    match &read.end {
        End::Skipped => "not listed (no row needs them)".to_owned(),
        End::Complete => pages,
        End::AllSeen => format!("{pages}; stopped once every ICCID was seen"),
        End::OverBudget => {
            format!("{pages}; given up at its budget, the other rows looked up one by one")
        }
        End::Failed(err) => format!("{pages}; given up ({err}), rows looked up one by one"),
    }
}

/// Reads the project's SIMs, keeping those the manifest names, until the
/// list ends, every wanted ICCID is seen, or the budget is spent.
fn read_sims(
    client: &Client,
    strategy: Resolve,
    wanted: &Wanted,
    show: &dyn Fn(&str),
) -> Result<(Sims, Read), Error> {
    let mut sims = Sims::default();
    let mut listing = Listing::new("/sims", budget(strategy, wanted.len()));
    let end = loop {
        let page: Vec<Sim> = match listing.next(client) {
            Ok(Paged::Items(items)) => items,
            Ok(Paged::End(end)) => break end,
            Err(err) => break give_up(err)?,
        };
        for sim in page {
            // The item must be a SIM of the manifest, by its own ICCID.
            if sim.id.is_empty() || sim.iccid.trim().is_empty() {
                continue;
            }
            let key = Key::of(&sim.iccid);
            if wanted.iccids.contains(&key) {
                sims.insert(key, &sim);
            }
        }
        listing.read.kept = sims.len() as u64;
        show(&format!(
            "reading the project: {} SIMs",
            thousands(listing.read.items)
        ));
        if sims.len() == wanted.len() && !listing.finished() {
            break End::AllSeen;
        }
    };
    listing.read.end = end;
    Ok((sims, listing.read))
}

/// The statuses of a subscription that holds its SIM, in the order they are
/// listed: `active` first, the form Gigs' own example asks for.
const LIVE: [&str; 3] = ["active", "pending", "initiated"];

/// Reads the project's live subscriptions, keeping those of `sims`: one
/// listing per live status, never a comma list (unconfirmed: a server that
/// read it as one unknown status would answer an empty list, and every held
/// SIM would look free), nor no filter at all (only `pending` and `active`
/// by default). The filter is not trusted: each item's status and SIM are
/// checked. The listings share `budget`.
fn read_subscriptions(
    client: &Client,
    budget: u64,
    sims: &HashSet<&str>,
    show: &dyn Fn(&str),
) -> Result<(Option<BySim>, Read), Error> {
    let mut index: BySim = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = Read::default();
    for status in LIVE {
        let mut listing = Listing::new(
            &format!("/subscriptions?status={status}"),
            budget.saturating_sub(total.pages),
        );
        let end = loop {
            let page: Vec<Subscription> = match listing.next(client) {
                Ok(Paged::Items(items)) => items,
                Ok(Paged::End(end)) => break end,
                Err(err) => break give_up(err)?,
            };
            for sub in page {
                // As the per-row lookup judges: any status but `ended` holds the SIM.
                let live = sub.is_live();
                if live && sims.contains(sub.sim_id()) && seen.insert(sub.id.clone()) {
                    index.entry(sub.sim_id().to_owned()).or_default().push(sub);
                }
            }
            show(&format!(
                "reading the project: {} live subscriptions",
                thousands(total.items + listing.read.items)
            ));
        };
        total.pages += listing.read.pages;
        total.items += listing.read.items;
        if end != End::Complete {
            total.end = end;
            total.kept = seen.len() as u64;
            return Ok((None, total));
        }
    }
    total.kept = seen.len() as u64;
    total.end = End::Complete;
    Ok((Some(index), total))
}

/// ICCIDs compare without the `F` padding of 19-digit ones, ignoring case
/// and surrounding blanks (as [`crate::onboard`] compares them).
pub fn iccid_key(iccid: &str) -> String {
    let s = iccid.trim();
    match s.strip_suffix(['F', 'f']) {
        Some(digits) if digits.len() == 19 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.to_owned()
        }
        _ => s.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_as_many_pages_as_lookups_in_auto_only() {
        assert_eq!(budget(Resolve::Auto, 10), 10);
        assert_eq!(budget(Resolve::Snapshot, 10), u64::MAX);
        assert_eq!(budget(Resolve::Search, 10), 0);
    }

    #[test]
    fn iccid_keys_ignore_padding_case_and_blanks() {
        assert_eq!(iccid_key(" 8988307000000753711F"), "8988307000000753711");
        assert_eq!(iccid_key("8988307000000753711f"), "8988307000000753711");
        assert_eq!(iccid_key("89883070000007537119"), "89883070000007537119");
        assert_ne!(
            iccid_key("89883070000007537119"),
            iccid_key("8988307000000753711")
        );
    }
}
