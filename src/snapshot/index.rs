//! The snapshot's SIM index, kept small: at a million SIMs a `Sim` with five
//! strings and a string key per entry would be most of the run's memory.
//! An ICCID of digits (every valid one) is keyed by a number; the SIM keeps
//! its id and three small numbers naming its type, provider and status in
//! a table of the few distinct values. The ICCID itself is the key's
//! digits, given back in the key's form (no `F` padding).

use std::collections::{HashMap, HashSet};

use super::iccid_key;
use crate::gigs::types::Sim;

/// An ICCID as a map key: a number for digits, else the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Digits(u128),
    Text(Box<str>),
}

/// Digits are kept with their count, so that leading zeros survive.
const MAX_DIGITS: usize = 36;

impl Key {
    pub(super) fn of(iccid: &str) -> Key {
        let key = iccid_key(iccid);
        if (1..=MAX_DIGITS).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_digit()) {
            let value = key
                .bytes()
                .fold(0u128, |n, b| n * 10 + u128::from(b - b'0'));
            Key::Digits(value * 64 + key.len() as u128)
        } else {
            Key::Text(key.into())
        }
    }

    /// The ICCID in its key form.
    fn iccid(&self) -> String {
        match self {
            Key::Digits(packed) => {
                let len = (packed % 64) as usize;
                format!("{:0len$}", packed / 64)
            }
            Key::Text(text) => text.to_string(),
        }
    }
}

/// A set of ICCIDs.
#[derive(Debug, Default)]
pub(super) struct Keys(HashSet<Key>);

impl Keys {
    pub(super) fn insert(&mut self, iccid: &str) {
        self.0.insert(Key::of(iccid));
    }

    pub(super) fn contains(&self, key: &Key) -> bool {
        self.0.contains(key)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// One SIM, small.
struct Entry {
    id: Box<str>,
    sim_type: u16,
    provider: u16,
    status: u16,
}

/// ICCID → SIM.
#[derive(Default)]
pub(super) struct Sims {
    by_key: HashMap<Key, Entry>,
    /// ICCIDs listed under more than one SIM id: which SIM is the row's is
    /// the search's to say, so none of them is kept.
    ambiguous: HashSet<Key>,
    /// The distinct values of `type`, `provider` and `status`.
    words: Vec<String>,
    word_ids: HashMap<String, u16>,
}

impl Sims {
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Keeps `sim` under `key`. An ICCID listed again under another SIM id
    /// is dropped (a listing is not trusted to say which SIM is the row's:
    /// its row searches, as without a snapshot); listed again under the same
    /// id, the first one read is kept. A SIM whose words overflow the table
    /// is not kept either: its row then searches, which costs a call but
    /// answers the same.
    pub(super) fn insert(&mut self, key: Key, sim: &Sim) {
        if self.ambiguous.contains(&key) {
            return;
        }
        if let Some(kept) = self.by_key.get(&key) {
            if *kept.id != *sim.id {
                self.by_key.remove(&key);
                self.ambiguous.insert(key);
            }
            return;
        }
        let (Some(sim_type), Some(provider), Some(status)) = (
            self.word(&sim.sim_type),
            self.word(&sim.provider),
            self.word(&sim.status),
        ) else {
            return;
        };
        let entry = Entry {
            id: sim.id.as_str().into(),
            sim_type,
            provider,
            status,
        };
        self.by_key.insert(key, entry);
    }

    fn word(&mut self, text: &str) -> Option<u16> {
        if let Some(&id) = self.word_ids.get(text) {
            return Some(id);
        }
        let id = u16::try_from(self.words.len()).ok()?;
        self.words.push(text.to_owned());
        self.word_ids.insert(text.to_owned(), id);
        Some(id)
    }

    pub(super) fn get(&self, key: &Key) -> Option<Sim> {
        let entry = self.by_key.get(key)?;
        let word = |id: u16| self.words[usize::from(id)].clone();
        Some(Sim {
            id: entry.id.to_string(),
            iccid: key.iccid(),
            sim_type: word(entry.sim_type),
            provider: word(entry.provider),
            status: word(entry.status),
        })
    }

    /// Every SIM kept.
    pub(super) fn iter(&self) -> impl Iterator<Item = Sim> + '_ {
        self.by_key.keys().filter_map(|key| self.get(key))
    }

    /// The ids of every SIM kept.
    pub(super) fn ids(&self) -> HashSet<&str> {
        self.by_key.values().map(|e| &*e.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(id: &str, iccid: &str) -> Sim {
        Sim {
            id: id.into(),
            iccid: iccid.into(),
            sim_type: "pSIM".into(),
            provider: "p4".into(),
            status: "inactive".into(),
        }
    }

    #[test]
    fn a_sim_comes_back_as_kept_under_its_iccid_in_any_form() {
        let mut sims = Sims::default();
        sims.insert(
            Key::of("8988307000000753711F"),
            &sim("sim_a", "8988307000000753711F"),
        );
        sims.insert(Key::of("00012"), &sim("sim_b", "00012"));
        sims.insert(Key::of("89-x"), &sim("sim_c", "89-x"));
        let a = sims.get(&Key::of(" 8988307000000753711")).unwrap();
        assert_eq!(
            (a.id.as_str(), a.iccid.as_str()),
            ("sim_a", "8988307000000753711")
        );
        assert_eq!((a.provider.as_str(), a.status.as_str()), ("p4", "inactive"));
        assert_eq!(sims.get(&Key::of("00012")).unwrap().iccid, "00012");
        assert_ne!(Key::of("00012"), Key::of("012"));
        assert_eq!(sims.get(&Key::of("89-X")).unwrap().id, "sim_c");
        assert!(sims.get(&Key::of("12")).is_none());
        assert_eq!(sims.len(), 3);
    }

    #[test]
    fn an_iccid_listed_under_two_sim_ids_is_not_kept_at_all() {
        let mut sims = Sims::default();
        sims.insert(Key::of("89001"), &sim("sim_a", "89001"));
        sims.insert(Key::of("89001"), &sim("sim_a", "89001"));
        assert_eq!(sims.get(&Key::of("89001")).unwrap().id, "sim_a");
        sims.insert(Key::of("89001"), &sim("sim_b", "89001"));
        sims.insert(Key::of("89001"), &sim("sim_a", "89001"));
        assert!(sims.get(&Key::of("89001")).is_none());
        assert_eq!(sims.len(), 0);
    }
}
