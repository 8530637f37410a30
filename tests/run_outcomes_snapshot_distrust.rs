//! The whole outcome suite with `--resolve snapshot` against the emulator
//! that distrusts the client (lists that ignore their filters and serve one
//! item per page, `invalid` with 400): the snapshot checks every item it
//! keeps and follows every page, and every story ends as against a faithful
//! emulator.

#[path = "run_outcomes.rs"]
mod snapshot_mode_distrustful;
