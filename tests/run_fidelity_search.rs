//! The fidelity stories (`run_fidelity.rs`, unchanged but for the requests
//! they count) with `--resolve search`: the same outcomes, reasons and messages.

#[path = "run_fidelity.rs"]
mod search_mode;
