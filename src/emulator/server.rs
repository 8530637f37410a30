//! The HTTP side: a hyper 1 server on a tokio runtime of its own, on a
//! background thread, so the emulator can run inside a test or `--sandbox`
//! as easily as behind `simboard emulator`.
//!
//! Each request goes through the same steps: the inspection route is served
//! straight away (it is exempt from everything); any other request is
//! counted (its rank in the count is what `revoke_token_after` looks at),
//! judged by the fault knobs, delayed by `--latency-ms`, and then
//! handed to [`api::handle`] under the state lock. A dropped create is
//! answered by returning an error from the service, which makes hyper close
//! the connection without writing a response.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming as IncomingBody};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::api::{self, Answer, BodyError, Incoming, Route, Settings};
use super::error::ApiError;
use super::faults::{Faults, Verdict};
use super::state::{Now, State};

/// The route that reports the whole state. Not part of the Gigs API.
pub const STATE_PATH: &str = "/_emulator/state";

/// Bodies above this are refused as `malformed` rather than buffered.
const MAX_BODY: usize = 1 << 20;

/// Everything the request handlers share.
pub struct Shared {
    pub settings: Settings,
    pub latency: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    faults: Faults,
}

impl Shared {
    pub fn new(settings: Settings, latency: Duration, state: State, faults: Faults) -> Shared {
        Shared {
            settings,
            latency,
            inner: Mutex::new(Inner { state, faults }),
        }
    }

    /// Nothing panics under the lock, but should it ever, the state is still
    /// the best answer there is: serve on rather than fail every request.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn state_json(&self) -> serde_json::Value {
        self.lock().state.to_json(Now::get())
    }
}

/// The error a service returns to have hyper close the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("answer dropped by --drop-rate")
    }
}

impl std::error::Error for Dropped {}

/// A running server: stopping it ends the accept loop and the runtime,
/// which cancels every open connection.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `listener` on a new runtime (two workers) on a background thread.
pub fn spawn(listener: std::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<Running> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("simboard-emulator")
        .enable_all()
        .build()?;
    let listener = {
        let _context = runtime.enter();
        TcpListener::from_std(listener)?
    };
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("simboard-emulator-accept".to_owned())
        .spawn(move || {
            runtime.block_on(accept_loop(listener, shared, stopped));
            // Dropping the runtime here cancels the connection tasks.
        })?;
    Ok(Running {
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: wait a little rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&shared), request));
            // A connection error (including a dropped answer) only ends
            // that connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<IncomingBody>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if path == STATE_PATH {
        return Ok(inspection(&shared, &parts.method));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    };

    let (rank, verdict) = {
        let mut inner = shared.lock();
        let inner = &mut *inner;
        let rank = inner
            .state
            .counters
            .count_request(&api::counter_key(&parts.method, path));
        let verdict = inner.faults.admit(Instant::now());
        match verdict {
            Verdict::RateLimited { .. } => inner.state.counters.rate_limited += 1,
            Verdict::Fail(_) => inner.state.counters.faults_injected += 1,
            Verdict::Pass => {}
        }
        (rank, verdict)
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    match verdict {
        Verdict::RateLimited { retry_after } => {
            let mut response = respond(Answer::error(&ApiError::rate_limited()));
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
        Verdict::Fail(status) => return Ok(respond(Answer::error(&ApiError::injected(status)))),
        Verdict::Pass => {}
    }

    let header = |name: &str| parts.headers.get(name).map(HeaderValue::as_bytes);
    let incoming = Incoming {
        method: &parts.method,
        path,
        query: parts.uri.query(),
        rank,
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body: body.as_ref().map(|b| &b[..]).map_err(|e| *e),
    };
    let (answer, dropped) = {
        let mut inner = shared.lock();
        let inner = &mut *inner;
        let answer = api::handle(&mut inner.state, &shared.settings, &incoming, Now::get());
        // The subscription is committed by now; only its answer is lost.
        let dropped = answer
            .created
            .is_some_and(|route| inner.faults.drop_answer(route == Route::CreateAddress));
        if dropped {
            inner.state.counters.dropped += 1;
        }
        (answer, dropped)
    };
    if dropped {
        return Err(Dropped);
    }
    Ok(respond(answer))
}

fn inspection(shared: &Shared, method: &Method) -> Response<Full<Bytes>> {
    if method == Method::GET {
        respond(Answer::json(200, &shared.state_json()))
    } else {
        let err = ApiError::not_found(format!("{STATE_PATH} only answers GET"));
        respond(Answer::error(&err))
    }
}

fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
