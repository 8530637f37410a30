//! The whole outcome suite (`run_outcomes.rs`, every story unchanged but
//! for the requests it counts) with `--resolve search`: every outcome, reason
//! and message must be the same as with the default `auto`, each row looked up on its own.

#[path = "run_outcomes.rs"]
mod search_mode;
