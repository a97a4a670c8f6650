//! The daemon's HTTP endpoints: `/healthz` (the contract monitoring relies on), `/metrics`
//! (Prometheus), a live MJPEG preview and a snapshot per camera, a small status page, and a
//! JSON API under `/api/` that lists, adds and removes cameras.
//!
//! axum serves them on a small tokio runtime of its own, apart from the pipelines' threads: a
//! slow or stalled client costs a task, never a pipeline's time or another client's turn. What
//! the endpoints show and change comes from the daemon through `Cameras`, whose calls may block
//! and so run on the runtime's blocking threads.
//!
//! - `config`: the `[http]` section.
//! - `auth`: the token check and the headers every reply carries.
//! - `page`: the status page.
//! - `mjpeg`: previews and snapshots.
//! - `api`: the REST API.
//! - `state`: the contract with the daemon.
//! - `testkit` and `tests`: a fake daemon, a raw HTTP client, and the endpoints' tests.

mod api;
mod auth;
mod config;
mod mjpeg;
mod page;
mod state;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::runtime::Runtime;
use tokio::sync::watch;

pub use config::HttpConfig;
pub use state::{ApiError, Applied, CameraView, Cameras, EventQuery, HttpState};

use crate::error::{Error, Result};
use mjpeg::Slots;
use state::{blocking, error, Healthz};

/// How long `stop` lets replies under way finish (streams end at once) before it drops the
/// connections left, those of clients that stopped reading.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Async workers: every request's own work is short (the rest runs on blocking threads).
const WORKERS: usize = 2;

/// The running HTTP endpoints. Dropping it stops them too.
pub struct HttpServer {
    addr: SocketAddr,
    /// Set to true by `stop`: the server takes no more connections, streams end.
    stop: watch::Sender<bool>,
    /// Receives (or disconnects) once the server has finished every connection.
    finished: mpsc::Receiver<()>,
    runtime: Option<Runtime>,
}

/// What every handler shares.
struct App {
    state: Arc<HttpState>,
    /// The token requests must carry; `None`: every request is let in.
    token: Option<String>,
    /// Live previews being streamed, at most `max_stream_clients`.
    streams: Arc<Slots>,
    /// A stream ends when this becomes true.
    stop: watch::Receiver<bool>,
}

impl HttpServer {
    /// Validates the configuration, binds `listen` and starts answering.
    pub fn start(config: &HttpConfig, state: Arc<HttpState>) -> Result<HttpServer> {
        config.validate().map_err(Error::input)?;
        let listen = &config.listen;
        // Bound here, before any runtime exists, so that a busy port is reported at once and
        // in the words of the system's error.
        let listener = TcpListener::bind(listen.as_str())
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::input(format!("http.listen '{listen}': cannot bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("http.listen '{listen}': {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("http")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("http: cannot start its runtime: {e}")))?;
        let listener = {
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::internal(format!("http.listen '{listen}': {e}")))?
        };
        let (stop, stopped) = watch::channel(false);
        let app = Arc::new(App {
            state,
            token: config.token().map(str::to_string),
            streams: Slots::new(config.max_stream_clients),
            stop: stopped.clone(),
        });
        let (done, finished) = mpsc::channel();
        let mut stopped = stopped;
        // The listener goes as soon as `stop` is set; the server then waits for the replies
        // under way. Accept errors (out of file descriptors, say) are retried by axum itself.
        let serve = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        runtime.spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!("http: the server on {addr} failed: {e}");
            }
            let _ = done.send(());
        });
        let auth = if config.token().is_some() {
            " (bearer token required)"
        } else {
            ""
        };
        tracing::info!("http: listening on http://{addr}/{auth}");
        Ok(HttpServer {
            addr,
            stop,
            finished,
            runtime: Some(runtime),
        })
    }

    /// The address bound (the actual port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests and closes the listening socket. Preview streams end with their
    /// closing boundary; a client that does not read its reply is cut off after `STOP_GRACE`.
    /// The previews themselves are left open.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if self.finished.recv_timeout(STOP_GRACE).is_err() {
            tracing::debug!("http: dropping the connections of clients that stopped reading");
        }
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped from async code, where waiting is not allowed: let it end on its own.
            runtime.shutdown_background();
        } else {
            // Waits for the connections' tasks to be dropped (their sockets closed) and for
            // the streams' waits for a frame, which last up to `mjpeg::STREAM_POLL`.
            runtime.shutdown_timeout(STOP_GRACE);
        }
    }
}

/// Every path, behind the token check; unknown paths get 404, known ones with the wrong method
/// 405 with `Allow`, both as JSON.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/index.html", get(page::index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/cameras/{name}/mjpeg", get(mjpeg::mjpeg))
        .route("/cameras/{name}/snapshot.jpg", get(mjpeg::snapshot))
        .merge(api::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        // Layers added later run first: the headers go on every reply, the 401s included.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ))
        .layer(middleware::map_response(auth::common_headers))
        .with_state(app)
}

/// `GET /healthz`: every camera's state and counters.
async fn healthz(State(app): State<Arc<App>>) -> std::result::Result<Response, ApiError> {
    let cameras = app.state.cameras.clone();
    let views = blocking(move || cameras.views()).await?;
    Ok(Json(Healthz::new(app.state.started, &views)).into_response())
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.state.metrics.encode();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
