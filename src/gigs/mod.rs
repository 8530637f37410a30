//! The Gigs Core API client, written from the API reference alone.
//!
//! [`client`] is the one place requests are sent and answers mapped to typed
//! errors; [`types`] holds the wire structs; [`retry`] decides, as a pure
//! function, whether an attempt is sent again; [`token`] holds the API key
//! without ever printing it; [`pace`] spaces requests so the
//! run learns the API's rate limit instead of bouncing off it.

pub mod client;
pub mod pace;
pub mod retry;
pub mod token;
pub mod types;

pub use client::{ApiError, Client, ClientConfig, Counts, Error, Log, SetupError};
pub use token::Token;
