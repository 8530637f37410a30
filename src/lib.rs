//! simboard: bulk onboarding of physical SIMs through the Gigs Core API.
//!
//! A supplier's manifest flows through one pipeline, one module per stage:
//!
//! 1. [`manifest`] reads the CSV as a stream (any delimiter, BOM, header or not),
//!    keeping each row's line number; [`workbook`], [`encoding`] and [`vendor`]
//!    let it read workbooks, text in other encodings and SIM vendor output
//!    files, and [`secrets`] decides which columns it withholds;
//! 2. [`iccid`] normalises and checks one cell (pure functions), and [`validate`]
//!    runs that over the row stream in parallel, finds duplicates and keeps order;
//! 3. [`gigs`] is the API client, and [`onboard`] takes one valid row through
//!    resolve → pair a plan → pair a user → its address → subscribe;
//! 4. [`run`] drives many rows at once, with retries, pacing and `--resume`;
//! 5. [`results`] writes the result CSV, one row per manifest row.
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
pub mod summary;
pub mod validate;
pub mod vendor;
pub mod workbook;
