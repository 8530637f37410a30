//! simboard: bulk onboarding of physical SIMs through the Gigs Core API.
//!
//! A supplier's manifest flows through one pipeline, one module per stage:
//!
//! 1. **manifest**: [`manifest`] (`src/manifest.rs`) reads the CSV as a
//!    stream (any delimiter, BOM, header or not), keeping each row's line
//!    number, and knows the header aliases of every column; [`workbook`],
//!    [`encoding`] and [`vendor`] let it read workbooks, text in other
//!    encodings and SIM vendor output files, and [`secrets`] decides which
//!    columns it withholds;
//! 2. **validate**: [`iccid`] (`src/iccid.rs`) normalises and checks one cell
//!    (pure functions), and [`validate`] (`src/validate/`) runs that over the
//!    row stream in parallel, finds duplicates ([`duplicates`]) and keeps
//!    order: `rows.rs` is the iterator of checked rows that `run` reads too,
//!    `block.rs` the fast path of `simboard validate` with its proptest
//!    contract;
//! 3. **resolve → pair → subscribe**: [`gigs`] (`src/gigs/`) is the API
//!    client, standing alone (`client.rs` the one chokepoint, `retry.rs`,
//!    `pace.rs`, `token.rs`, `types.rs`), and [`onboard`] (`src/onboard.rs`)
//!    takes one valid row through resolve the SIM → pair a plan → pair a
//!    user → its address → subscribe (`src/onboard/` holds the plan
//!    requirements and the user's addresses); [`snapshot`]
//!    (`src/snapshot/`) reads the project's SIMs, live subscriptions and
//!    users 200 per call before the first row (`--resolve`), so that rows
//!    resolve from memory instead of one lookup each;
//! 4. [`run`] (`src/run/`, one step per file, in order) drives many rows at
//!    once: settle the output and journal, the rows kept by `--resume`, one
//!    pre-pass over the manifest, the connection, preflight and snapshot; then the
//!    feeder → workers → sink pipeline; then the conclusion;
//! 5. **results**: [`results`] (`src/results.rs`) writes the result CSV, one
//!    row per manifest row, and [`summary`] the closing summary; [`exit`]
//!    holds the exit codes and the fatal error.
//!
//! Errors are typed (thiserror) at every module boundary; [`exit::Fatal`] is
//! the one error the commands return.
//!
//! [`emulator`] is a stateful emulator of the Gigs API used by the tests, the
//! benchmarks and `--sandbox`. It shares no wire types with [`gigs`].

pub mod duplicates;
pub mod emulator;
pub mod encoding;
pub mod exit;
pub mod gigs;
pub mod iccid;
pub mod manifest;
pub mod onboard;
pub mod progress;
mod records;
pub mod results;
pub mod run;
pub mod secrets;
pub mod snapshot;
pub mod summary;
pub mod validate;
pub mod vendor;
pub mod workbook;
