//! The fidelity stories (`run_fidelity.rs`, unchanged but for the requests
//! they count) with `--resolve snapshot`: the same outcomes, reasons and messages.

#[path = "run_fidelity.rs"]
mod snapshot_mode;
