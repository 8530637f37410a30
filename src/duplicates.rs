//! Finding repeated ICCIDs: the one part of validation that must remember
//! the whole file.
//!
//! A million-row manifest means a million random probes into a table tens of
//! megabytes large, so this is memory-bound, not compute-bound. Two choices
//! follow: a flat open-addressing table of 16-byte entries (one cache line
//! touched per probe, where a general-purpose map touches two), and shards
//! keyed by hash, each probed by its own thread, so the cache misses of
//! different cores overlap. An ICCID always lands in the same shard, so each
//! shard sees its keys in manifest order and "first line" stays exact.

use rayon::prelude::*;

/// How many keys ahead to prefetch: enough to cover a memory access.
const LOOKAHEAD: usize = 16;

/// Marks a slot as taken; keys (see [`crate::iccid::Iccid::key`]) never use bit 62.
const TAKEN: u64 = 1 << 62;

/// An empty slot. Not zero on purpose: a zeroed table comes from the
/// allocator as copy-on-write zero pages, and every first write to one then
/// costs a page fault and a TLB flush on every core. Filling the table with
/// this writes each page once, up front. No key has bits 60 and 61 set.
const EMPTY: u64 = u64::MAX;

/// The ICCIDs seen so far, with the line each was first seen on.
#[derive(Debug)]
pub struct Seen {
    shards: Vec<Table>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen::new()
    }
}

impl Seen {
    pub fn new() -> Self {
        let shards = rayon::current_num_threads().clamp(1, 64);
        Seen {
            shards: (0..shards).map(|_| Table::default()).collect(),
        }
    }

    /// Makes room for about `keys` more keys in all. The shards are filled
    /// in parallel: a large table's first writes are page faults, which are
    /// the kernel's work and cost about as much as the inserts themselves.
    pub fn reserve(&mut self, keys: usize) {
        let per_shard = keys / self.shards.len() + 1;
        self.shards
            .par_iter_mut()
            .for_each(|shard| shard.reserve(per_shard));
    }

    /// Records `(index, key, line)` triples given in manifest order, and
    /// returns `(index, first line)` for every key seen on an earlier line.
    pub fn insert_all(&mut self, keys: &[(usize, u64, u64)]) -> Vec<(usize, u64)> {
        let mut batch = self.batch();
        for &(index, key, line) in keys {
            batch.push(index, key, line);
        }
        self.insert_batches(&[(&batch, 0)])
    }

    /// An empty batch of keys for this set: see [`Batch`].
    pub fn batch(&self) -> Batch {
        Batch {
            shards: vec![Vec::new(); self.shards.len()],
        }
    }

    /// Records the keys of `batches`, given in manifest order, each with a
    /// number added to its indices, and returns `(index, first line)` for
    /// every key seen on an earlier line, by index.
    pub fn insert_batches(&mut self, batches: &[(&Batch, usize)]) -> Vec<(usize, u64)> {
        let mut repeats: Vec<(usize, u64)> = self
            .shards
            .par_iter_mut()
            .enumerate()
            .flat_map_iter(|(s, table)| {
                let mut mine =
                    Vec::with_capacity(batches.iter().map(|b| b.0.shards[s].len()).sum());
                for &(batch, offset) in batches {
                    let keys = batch.shards[s].iter();
                    mine.extend(
                        keys.map(|&(index, key, hash, line)| (index + offset, key, hash, line)),
                    );
                }
                table.reserve(mine.len());
                let mut repeats = Vec::new();
                for (i, &(index, key, hash, line)) in mine.iter().enumerate() {
                    // Ask for the slot of a key a little ahead, so that its
                    // cache miss overlaps with the work on this one.
                    if let Some(&(_, _, ahead, _)) = mine.get(i + LOOKAHEAD) {
                        table.prefetch(ahead);
                    }
                    if let Err(first) = table.insert(key, hash, line) {
                        repeats.push((index, first));
                    }
                }
                repeats
            })
            .collect();
        repeats.sort_unstable();
        repeats
    }

    /// How many distinct keys are held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|t| t.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keys sorted by shard ahead of [`Seen::insert_batches`], so that the work
/// of hashing and sorting them can be spread over threads (one batch per
/// piece of a block, say) instead of left to the one that inserts.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Per shard: `(index, key, hash, line)`, in the order pushed.
    shards: Vec<Vec<(usize, u64, u64, u64)>>,
}

impl Batch {
    /// Adds `key`, seen on `line`, under `index`. Keys must be pushed in
    /// manifest order.
    pub fn push(&mut self, index: usize, key: u64, line: u64) {
        let hash = hash(key);
        // The top 32 bits of the hash, scaled to the shard count: a multiply
        // where `%` would divide, for every key of the file.
        let shard = ((hash >> 32) * self.shards.len() as u64) >> 32;
        self.shards[shard as usize].push((index, key, hash, line));
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(Vec::is_empty)
    }

    /// How many keys the batch holds.
    pub fn len(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }

    /// Empties the batch, keeping its room.
    pub fn clear(&mut self) {
        self.shards.iter_mut().for_each(Vec::clear);
    }
}

/// ICCID digits are already spread; one multiply mixes them into every bit.
fn hash(key: u64) -> u64 {
    let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// A table of `capacity` empty slots. A large table asks the kernel for huge
/// pages before it is first written: each probe lands on a random page, and
/// with 4 KiB pages nearly every one would also miss the TLB.
fn new_slots(capacity: usize) -> Vec<[u64; 2]> {
    let mut slots: Vec<[u64; 2]> = Vec::with_capacity(capacity);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = capacity * std::mem::size_of::<[u64; 2]>();
        if bytes >= 2 * HUGE {
            let start = slots.as_ptr() as usize;
            let aligned = (start + HUGE - 1) & !(HUGE - 1);
            let len = (start + bytes - aligned) & !(HUGE - 1);
            // SAFETY: the range lies inside the allocation just made, which
            // nothing has touched yet; MADV_HUGEPAGE is only advice and
            // changes no contents. A refusal is harmless and ignored.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    slots.resize(capacity, [EMPTY, 0]);
    slots
}

/// Open addressing with linear probing; at most half full.
#[derive(Debug, Default)]
struct Table {
    /// `[key | TAKEN, line]` pairs, or `[EMPTY, 0]`.
    slots: Vec<[u64; 2]>,
    len: usize,
}

impl Table {
    fn reserve(&mut self, more: usize) {
        let wanted = ((self.len + more) * 2).next_power_of_two().max(16);
        if wanted > self.slots.len() {
            self.resize(wanted);
        }
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, new_slots(capacity));
        self.len = 0;
        for [key, line] in old {
            if key != EMPTY {
                let key = key & !TAKEN;
                let _ = self.insert(key, hash(key), line);
            }
        }
    }

    /// Hints the processor to fetch the slot a hash starts probing at.
    fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self
            .slots
            .get(hash as usize & (self.slots.len().wrapping_sub(1)))
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: prefetching is only a hint; SSE is part of every x86_64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.as_ptr().cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }

    /// Inserts `key` first seen on `line`; when it is there already, answers
    /// the line it was first seen on.
    fn insert(&mut self, key: u64, hash: u64, line: u64) -> Result<(), u64> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.resize((self.slots.len() * 2).max(16));
        }
        let mask = self.slots.len() - 1;
        let wanted = key | TAKEN;
        let mut i = hash as usize & mask;
        loop {
            match self.slots[i] {
                [EMPTY, _] => {
                    self.slots[i] = [wanted, line];
                    self.len += 1;
                    return Ok(());
                }
                [k, first] if k == wanted => return Err(first),
                _ => i = (i + 1) & mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// The sharded table answers exactly what a plain map would.
        #[test]
        fn agrees_with_a_plain_map(keys in proptest::collection::vec(0u64..200, 0..500), split in 1usize..50) {
            let mut seen = Seen::new();
            let mut model: HashMap<u64, u64> = HashMap::new();
            let triples: Vec<(usize, u64, u64)> =
                keys.iter().enumerate().map(|(i, &k)| (i, k, i as u64 + 2)).collect();
            let mut got = Vec::new();
            for chunk in triples.chunks(split) {
                got.extend(seen.insert_all(chunk));
            }
            let mut want = Vec::new();
            for &(i, k, line) in &triples {
                let first = *model.entry(k).or_insert(line);
                if first != line {
                    want.push((i, first));
                }
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(seen.len(), model.len());
        }
    }
}
