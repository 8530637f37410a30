//! The Gigs error body, as the emulator answers it.
//!
//! Every refusal the emulator gives, whether the API itself would give it
//! (`invalid`, `notFound`, ...) or a fault knob injects it (429, 5xx), goes out
//! as `{"object":"error","type":..,"message":..,"code"?:..}`, so a client meets
//! one shape whatever went wrong. The codes are stable names a test can assert.

use std::path::PathBuf;

use serde_json::{json, Value};

/// One error answer: an HTTP status and the Gigs error body that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub code: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            code: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// 400: the request cannot be read at all (bad JSON, oversized body).
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "malformed", message)
    }

    /// 401, with the message the reference quotes.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(401, "unauthenticated", "Invalid authorization token")
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "notFound", message)
    }

    /// 422: "invalid parameter or incompatible system state".
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "invalid", message)
    }

    /// 422 with a code, for the refusals a client may want to tell apart.
    pub fn invalid_because(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(message).with_code(code)
    }

    /// 429 from the `--rate` token bucket. The reference documents no type
    /// for it, so the emulator picks `tooManyRequests`.
    pub fn rate_limited() -> ApiError {
        ApiError::new(429, "tooManyRequests", "Too many requests: slow down")
            .with_code("rateLimited")
    }

    /// An injected 500, 502 or 503 (`--fail-rate`). The types are the
    /// emulator's choice; the codes are the two the reference lists.
    pub fn injected(status: u16) -> ApiError {
        match status {
            500 => ApiError::new(500, "internal", "Internal error (injected by the emulator)")
                .with_code("unknown"),
            _ => ApiError::new(
                status,
                "unavailable",
                "Service unavailable (injected by the emulator)",
            )
            .with_code("serviceUnavailable"),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "object": "error",
            "type": self.kind,
            "message": self.message,
        });
        if let (Some(code), Some(map)) = (self.code, body.as_object_mut()) {
            map.insert("code".to_owned(), Value::from(code));
        }
        body
    }
}

/// A plan object that the emulator cannot serve, with the plan's id (`?`
/// when it has none) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("plan {id}: {message}")]
pub struct PlanError {
    pub id: String,
    pub message: String,
}

impl PlanError {
    pub fn new(id: &str, message: impl Into<String>) -> PlanError {
        PlanError {
            id: id.to_owned(),
            message: message.into(),
        }
    }
}

/// Why the emulator could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A setting outside its range (the checks clap makes, repeated for
    /// library callers).
    #[error("{0}")]
    Setting(String),
    #[error("cannot read the plans file {}: {source}", path.display())]
    PlansUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a JSON list of plans: {source}", path.display())]
    PlansNotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    BadPlan { path: PathBuf, source: PlanError },
    #[error("{}: the plan id {id} appears twice", path.display())]
    DuplicatePlan { path: PathBuf, id: String },
    #[error("cannot read the inventory manifest {}: {source}", path.display())]
    Inventory {
        path: PathBuf,
        source: crate::manifest::ManifestError,
    },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot start the server: {0}")]
    Serve(std::io::Error),
    #[error("cannot install the Ctrl-C handler: {0}")]
    CtrlC(#[from] ctrlc::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}
