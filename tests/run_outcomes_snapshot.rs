//! The whole outcome suite (`run_outcomes.rs`, every story unchanged but
//! for the requests it counts) with `--resolve snapshot`: every outcome, reason
//! and message must be the same as with the default `auto` and the project read once before the first row.

#[path = "run_outcomes.rs"]
mod snapshot_mode;
