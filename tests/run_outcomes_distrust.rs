//! The whole outcome suite (`run_outcomes.rs`, every story unchanged) against
//! an emulator that distrusts the client: its lists ignore their filters and
//! serve one item per page, and `invalid` comes with 400 instead of 422. The
//! Gigs docs confirm neither the filters nor the status, so each story must
//! end exactly as against a faithful emulator, its counts of requests
//! included.

#[path = "run_outcomes.rs"]
mod distrustful;
