//! The daemon's HTTP endpoints: `/healthz` (the contract monitoring relies on), `/metrics`
//! (Prometheus), a live MJPEG preview and a snapshot per camera, and a small status page.
//!
//! One thread takes requests from `tiny_http` and answers the quick ones itself. Previews and
//! snapshots, whose size or duration depends on the client, each get their own thread, so a slow
//! viewer delays nobody: it only ever reads the camera's shared preview slot.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tiny_http::{HTTPVersion, Header, Method, Request, Response};

use crate::error::{Error, Result};
use crate::metrics::{CameraMetrics, HealthReport, Metrics};
use crate::sink::Preview;

// ---------------------------------------------------------------------------------------------
// Configuration

/// The `[http]` section of the daemon's configuration.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// Bearer token every request must carry; required unless `listen` is a loopback address.
    pub token: Option<String>,
    /// Live MJPEG previews served at once; more get 503.
    pub max_stream_clients: usize,
    /// Most preview frames per second of each camera.
    pub preview_fps: f64,
    /// Preview frames wider than this are scaled down, in pixels.
    pub preview_width: i32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_string(),
            token: None,
            max_stream_clients: 8,
            preview_fps: 5.0,
            preview_width: 960,
        }
    }
}

/// By hand so that printing the configuration never shows the token.
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_stream_clients", &self.max_stream_clients)
            .field("preview_fps", &self.preview_fps)
            .field("preview_width", &self.preview_width)
            .finish()
    }
}

impl HttpConfig {
    /// Checks every key; the message names the key and (except for the token) its value.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let loopback = listens_on_loopback(&self.listen)?;
        if let Some(token) = self.token() {
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("http.token must not contain spaces or control characters".into());
            }
        } else if !loopback {
            return Err(format!(
                "http.token is required when http.listen ({}) is not a loopback address",
                self.listen
            ));
        }
        if self.max_stream_clients == 0 {
            return Err("http.max_stream_clients = 0 must be at least 1".into());
        }
        if !(self.preview_fps.is_finite() && self.preview_fps > 0.0) {
            return Err(format!(
                "http.preview_fps = {} must be a positive number",
                self.preview_fps
            ));
        }
        if self.preview_width < 32 {
            return Err(format!(
                "http.preview_width = {} must be at least 32",
                self.preview_width
            ));
        }
        Ok(())
    }

    /// The token clients must send; an empty one counts as none.
    fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// Whether every address `listen` resolves to is a loopback one (only this host can connect).
fn listens_on_loopback(listen: &str) -> std::result::Result<bool, String> {
    let bad = || format!("http.listen = {listen:?}: not a host:port address");
    let addrs: Vec<SocketAddr> = listen.to_socket_addrs().map_err(|_| bad())?.collect();
    if addrs.is_empty() {
        return Err(bad());
    }
    let host = listen.rsplit_once(':').map_or("", |(h, _)| h);
    Ok(host.eq_ignore_ascii_case("localhost") || addrs.iter().all(|a| a.ip().is_loopback()))
}

// ---------------------------------------------------------------------------------------------
// What is served

/// Everything the endpoints show, shared with the cameras' pipelines.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub cameras: Vec<CameraView>,
    /// When the daemon started, for `uptime_s`.
    pub started: Instant,
}

/// One camera as the endpoints show it.
pub struct CameraView {
    pub name: String,
    /// The source's URL with credentials already redacted: it is shown on the status page.
    pub source: String,
    pub metrics: CameraMetrics,
    /// The live preview, when the camera has one.
    pub preview: Option<Arc<Preview>>,
}

#[derive(Serialize)]
struct Healthz<'a> {
    status: &'static str,
    uptime_s: f64,
    cameras: BTreeMap<&'a str, CameraHealth>,
}

#[derive(Serialize)]
struct CameraHealth {
    #[serde(flatten)]
    report: HealthReport,
    frames_captured: u64,
    frames_processed: u64,
    frames_dropped: u64,
    reconnects: u64,
    active_tracks: i64,
}

impl HttpState {
    fn camera(&self, name: &str) -> Option<&CameraView> {
        self.cameras.iter().find(|c| c.name == name)
    }

    fn healthz(&self) -> Healthz<'_> {
        let cameras = self
            .cameras
            .iter()
            .map(|c| {
                let m = &c.metrics;
                let health = CameraHealth {
                    report: m.health.report(),
                    frames_captured: m.captured.get(),
                    frames_processed: m.processed.get(),
                    frames_dropped: m.dropped.get(),
                    reconnects: m.reconnects.get(),
                    active_tracks: m.active_tracks.get(),
                };
                (c.name.as_str(), health)
            })
            .collect();
        Healthz {
            status: "ok",
            uptime_s: self.started.elapsed().as_secs_f64(),
            cameras,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// How often a waiting preview stream checks whether the server is stopping.
const STREAM_POLL: Duration = Duration::from_millis(500);
/// A stream with no new frame for this long sends the last one again: proxies keep the
/// connection, and a viewer that went away is noticed (its slot freed) while a camera is down.
const STREAM_KEEPALIVE: Duration = Duration::from_secs(10);
/// Snapshots being sent at once; more get 503.
const MAX_SNAPSHOT_CLIENTS: usize = 16;
/// Browsers open at most 6 connections per host over HTTP/1.1 and each live preview holds one:
/// the status page streams this many cameras and refreshes snapshots of the others, so that its
/// `/healthz` polling always has a connection left.
const LIVE_PREVIEWS_ON_PAGE: usize = 4;

/// The running HTTP endpoints. Dropping it stops them too.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// What the accept thread and `stop` share.
struct Shared {
    /// Also read by the stream threads, which end within `STREAM_POLL` once it is set.
    stopping: Arc<AtomicBool>,
    /// Replaced when the listener fails and is reopened.
    server: Mutex<Arc<tiny_http::Server>>,
}

impl Shared {
    fn server(&self) -> Arc<tiny_http::Server> {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

fn bind(addr: impl ToSocketAddrs) -> io::Result<tiny_http::Server> {
    let listener = TcpListener::bind(addr)?;
    tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)
}

impl HttpServer {
    /// Validates the configuration, binds `listen` and starts answering.
    pub fn start(config: &HttpConfig, state: Arc<HttpState>) -> Result<HttpServer> {
        config.validate().map_err(Error::input)?;
        let listen = &config.listen;
        let server = bind(listen.as_str())
            .map_err(|e| Error::input(format!("http.listen '{listen}': cannot bind: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::internal(format!("http.listen '{listen}': not an IP socket")))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            stopping: stopping.clone(),
            server: Mutex::new(Arc::new(server)),
        });
        let handler = Handler {
            state,
            token: config.token().map(str::to_string),
            streams: Slots::new(config.max_stream_clients),
            snapshots: Slots::new(MAX_SNAPSHOT_CLIENTS),
            stopping,
        };
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("http".into())
                .spawn(move || accept_loop(&shared, &handler, addr))
                .map_err(|e| Error::internal(format!("http: cannot start a thread: {e}")))?
        };
        let auth = if config.token().is_some() {
            " (bearer token required)"
        } else {
            ""
        };
        tracing::info!("http: listening on http://{addr}/{auth}");
        Ok(HttpServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address bound (the actual port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests and closes the listening socket. Preview streams end within
    /// `STREAM_POLL`, on their own threads; the previews themselves are left open.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // The flag first: the accept thread checks it after every wake-up, including after it
        // reopened a failed listener that `unblock` below did not reach.
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.server().unblock();
        if let Some(accept) = self.accept.take() {
            if accept.join().is_err() {
                tracing::error!("http: the request thread panicked");
            }
        }
        // The last reference to the tiny_http server goes here, which closes its socket.
    }
}

fn accept_loop(shared: &Shared, handler: &Handler, addr: SocketAddr) {
    while !shared.stopping() {
        let server = shared.server();
        match server.recv() {
            Ok(request) => handler.handle(request),
            Err(_) if shared.stopping() => break,
            Err(e) => {
                // tiny_http's listener thread ends on an accept error (out of file
                // descriptors, say): the endpoints must come back once the cause is gone.
                tracing::error!("http: the listener on {addr} failed ({e}); reopening it");
                drop(server);
                reopen(shared, addr);
            }
        }
    }
}

fn reopen(shared: &Shared, addr: SocketAddr) {
    while !shared.stopping() {
        std::thread::sleep(Duration::from_secs(1));
        match bind(addr) {
            Ok(server) => {
                *shared.server.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(server);
                tracing::info!("http: listening on http://{addr}/ again");
                return;
            }
            Err(e) => tracing::debug!("http: cannot reopen {addr} yet: {e}"),
        }
    }
}

/// A bounded number of concurrent responses of one kind.
struct Slots {
    active: AtomicUsize,
    max: usize,
}

/// Holds one slot until dropped.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            active: AtomicUsize::new(0),
            max,
        })
    }

    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

enum Route {
    Index,
    Healthz,
    Metrics,
    Mjpeg(String),
    Snapshot(String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        match path {
            "/" | "/index.html" => Some(Route::Index),
            "/healthz" => Some(Route::Healthz),
            "/metrics" => Some(Route::Metrics),
            _ => {
                let (name, what) = path.strip_prefix("/cameras/")?.split_once('/')?;
                let name = percent_decode(name)?;
                match what {
                    "mjpeg" => Some(Route::Mjpeg(name)),
                    "snapshot.jpg" => Some(Route::Snapshot(name)),
                    _ => None,
                }
            }
        }
    }
}

struct Handler {
    state: Arc<HttpState>,
    token: Option<String>,
    streams: Arc<Slots>,
    snapshots: Arc<Slots>,
    stopping: Arc<AtomicBool>,
}

type Reply = Response<io::Cursor<Vec<u8>>>;

impl Handler {
    fn handle(&self, request: Request) {
        // The query is never logged: it may hold the token.
        let url = request.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        tracing::debug!("http: {} {path}", request.method());
        if !self.authorized(&request, query) {
            let reply =
                error(401, "unauthorized").with_header(header("WWW-Authenticate", "Bearer"));
            return respond(request, reply, path);
        }
        let Some(route) = Route::parse(path) else {
            return respond(request, error(404, "not found"), path);
        };
        if !matches!(request.method(), Method::Get | Method::Head) {
            let reply = error(405, "method not allowed").with_header(header("Allow", "GET, HEAD"));
            return respond(request, reply, path);
        }
        match route {
            Route::Index => self.reply_apart(request, self.index(), path),
            Route::Healthz => self.reply_apart(request, self.healthz(), path),
            Route::Metrics => self.reply_apart(request, self.metrics(), path),
            Route::Snapshot(name) => self.snapshot(request, &name, path),
            Route::Mjpeg(name) => self.mjpeg(request, &name, path),
        }
    }

    /// True without a token; otherwise the request must carry it as a bearer token or as the
    /// `token` query parameter (which `<img>` tags can send).
    fn authorized(&self, request: &Request, query: &str) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let from_headers = request
            .headers()
            .iter()
            .filter(|h| h.field.equiv("Authorization"))
            .filter_map(|h| bearer_token(h.value.as_str()).map(str::to_string));
        let from_query = query_param(query, "token");
        from_headers
            .chain(from_query)
            .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
    }

    fn healthz(&self) -> Reply {
        match serde_json::to_vec(&self.state.healthz()) {
            Ok(body) => with_type(Response::from_data(body), "application/json"),
            Err(e) => error(500, &format!("cannot encode the health report: {e}")),
        }
    }

    fn metrics(&self) -> Reply {
        let text = self.state.metrics.encode();
        with_type(
            Response::from_data(text.into_bytes()),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    }

    fn index(&self) -> Reply {
        with_type(
            Response::from_data(status_page(&self.state.cameras).into_bytes()),
            "text/html; charset=utf-8",
        )
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             frame-ancestors 'none'",
        ))
    }

    fn preview_of(&self, name: &str) -> std::result::Result<&Arc<Preview>, Reply> {
        let camera = self
            .state
            .camera(name)
            .ok_or_else(|| error(404, &format!("no camera named {name:?}")))?;
        camera.preview.as_ref().ok_or_else(|| {
            error(
                404,
                &format!("camera {name:?} sends no pictures (cameras.{name}.preview = true turns its preview on)"),
            )
        })
    }

    fn snapshot(&self, request: Request, name: &str, path: &str) {
        let preview = match self.preview_of(name) {
            Ok(p) => p,
            Err(reply) => return respond(request, reply, path),
        };
        let Some((_, jpeg)) = preview.latest() else {
            return respond(request, error(503, "no frame yet"), path);
        };
        let Some(slot) = self.snapshots.take() else {
            return respond(request, busy("snapshot"), path);
        };
        let path = path.to_string();
        spawn_reply("http-snapshot", move || {
            let _slot = slot;
            let reply = with_type(Response::from_data(jpeg.as_slice()), "image/jpeg");
            respond(request, reply, &path);
        });
    }

    /// Sends a ready reply from its own thread: a client that stops reading (or pipelines a
    /// request behind a stream) then holds only that thread, never the endpoints or a shutdown.
    fn reply_apart(&self, request: Request, reply: Reply, path: &str) {
        let Some(slot) = self.snapshots.take() else {
            return respond(request, busy("reply"), path);
        };
        let path = path.to_string();
        spawn_reply("http-reply", move || {
            let _slot = slot;
            respond(request, reply, &path);
        });
    }

    fn mjpeg(&self, request: Request, name: &str, path: &str) {
        let preview = match self.preview_of(name) {
            Ok(p) => p.clone(),
            Err(reply) => return respond(request, reply, path),
        };
        let Some(slot) = self.streams.take() else {
            return respond(request, busy("preview stream"), path);
        };
        let stopping = self.stopping.clone();
        let name = name.to_string();
        spawn_reply("http-mjpeg", move || {
            let _slot = slot;
            let stream = MjpegStream::new(preview, stopping);
            match stream_mjpeg(request, stream) {
                Ok(()) => tracing::debug!(camera = name, "http: preview stream ended"),
                // The viewer closed the page: the usual way a stream ends.
                Err(e) => tracing::debug!(camera = name, "http: preview stream ended: {e}"),
            }
        });
    }
}

/// Runs a response on its own thread. Without a thread (the system is out of them) the
/// connection is dropped unanswered, which the client sees as a failure.
fn spawn_reply(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::warn!("http: cannot start a thread to answer: {e}");
    }
}

fn respond<R: Read>(request: Request, reply: Response<R>, path: &str) {
    let reply = reply
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"));
    if let Err(e) = request.respond(reply) {
        tracing::debug!("http: {path}: cannot send the response: {e}");
    }
}

/// A header from constant, valid text.
fn header(field: &str, value: &str) -> Header {
    Header::from_bytes(field.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("invalid constant header {field}"))
}

fn with_type<R: Read>(reply: Response<R>, content_type: &str) -> Response<R> {
    reply.with_header(header("Content-Type", content_type))
}

/// `{"error": message}` with a status code.
fn error(status: u16, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message }).to_string();
    with_type(Response::from_data(body.into_bytes()), "application/json").with_status_code(status)
}

fn busy(what: &str) -> Reply {
    error(503, &format!("too many {what} clients; try again later"))
        .with_header(header("Retry-After", "5"))
}

// ---------------------------------------------------------------------------------------------
// MJPEG

/// The multipart body of a live preview as a byte stream: blocks until the camera's next frame,
/// skipping any it was too slow for, and ends when the preview closes or the server stops.
struct MjpegStream {
    preview: Arc<Preview>,
    stopping: Arc<AtomicBool>,
    generation: u64,
    part: Vec<u8>,
    pos: usize,
    last_part: Instant,
    ended: bool,
}

impl MjpegStream {
    fn new(preview: Arc<Preview>, stopping: Arc<AtomicBool>) -> Self {
        Self {
            preview,
            stopping,
            generation: 0,
            part: Vec::new(),
            pos: 0,
            last_part: Instant::now(),
            ended: false,
        }
    }

    /// Loads the next part; false at the end of the stream.
    fn next_part(&mut self) -> bool {
        while !self.ended {
            if self.stopping.load(Ordering::SeqCst) || self.preview.is_closed() {
                self.ended = true;
                self.set_part(b"--frame--\r\n".to_vec());
                return true;
            }
            if let Some((generation, jpeg)) = self.preview.wait_newer(self.generation, STREAM_POLL)
            {
                self.generation = generation;
                self.set_part(jpeg_part(&jpeg));
                return true;
            }
            if self.last_part.elapsed() >= STREAM_KEEPALIVE {
                if let Some((_, jpeg)) = self.preview.latest() {
                    self.set_part(jpeg_part(&jpeg));
                    return true;
                }
            }
        }
        false
    }

    fn set_part(&mut self, part: Vec<u8>) {
        self.part = part;
        self.pos = 0;
        self.last_part = Instant::now();
    }
}

fn jpeg_part(jpeg: &[u8]) -> Vec<u8> {
    let head = format!(
        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
    part.extend_from_slice(head.as_bytes());
    part.extend_from_slice(jpeg);
    part.extend_from_slice(b"\r\n");
    part
}

impl Read for MjpegStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.part.len() && !self.next_part() {
            return Ok(0);
        }
        let n = buf.len().min(self.part.len() - self.pos);
        buf[..n].copy_from_slice(&self.part[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes the response by hand rather than through `Request::respond`: tiny_http would hold the
/// end of each frame in its chunk buffer until the next one, and buffer an endless body whole for
/// an HTTP/1.0 client.
fn stream_mjpeg(request: Request, mut stream: MjpegStream) -> io::Result<()> {
    let chunked = *request.http_version() >= HTTPVersion(1, 1);
    let head_only = *request.method() == Method::Head;
    let mut out = request.into_writer();
    let framing = if chunked {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    } else {
        "HTTP/1.0 200 OK\r\n"
    };
    write!(
        out,
        "{framing}Content-Type: multipart/x-mixed-replace; boundary=frame\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    )?;
    out.flush()?;
    if head_only {
        return Ok(());
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if chunked {
            write!(out, "{n:x}\r\n")?;
            out.write_all(&buf[..n])?;
            out.write_all(b"\r\n")?;
        } else {
            out.write_all(&buf[..n])?;
        }
        // Each frame goes out whole and at once, not when a buffer happens to fill.
        out.flush()?;
    }
    if chunked {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}

// ---------------------------------------------------------------------------------------------
// Tokens and URLs

/// The token of an `Authorization: Bearer TOKEN` header value.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares in time that depends on the expected token's length only, so that response times
/// tell an attacker nothing about how much of a guess was right.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(!e);
    }
    diff == 0
}

/// The percent-decoded value of a query parameter. `+` stays itself: tokens are not form data.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

/// `%XX` escapes decoded; `None` for a malformed escape or text that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A path segment with every byte but the unreserved ones escaped.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The status page

const PAGE_HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#111;color:#ddd}
header{padding:10px 16px;background:#1c1c1c;display:flex;gap:16px;align-items:baseline}
h1{font-size:18px;margin:0}
a{color:#8ab4f8}
#up{color:#999}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px;padding:12px}
.card{background:#1c1c1c;border-radius:6px;overflow:hidden}
.card img,.none{width:100%;aspect-ratio:16/9;display:block;background:#000;object-fit:contain}
.none{display:flex;align-items:center;justify-content:center;color:#666}
.info{padding:8px 12px}
.name{font-weight:600;margin-right:8px}
.src{color:#888;font-size:12px;word-break:break-all;margin-top:2px}
.state{padding:1px 8px;border-radius:9px;background:#444;font-size:12px}
.streaming{background:#1e6b35}.connecting,.stalled,.backoff{background:#8a6d1a}.failed{background:#8a1f1f}
.for{color:#999;font-size:12px;margin-left:6px}
dl{display:grid;grid-template-columns:repeat(4,auto);gap:2px 10px;margin:8px 0 0;font-size:12px}
dt{color:#888}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.err{color:#e88;font-size:12px;margin-top:6px;word-break:break-word}
</style></head><body>
<header><h1>vigil</h1><span id="up">connecting…</span><a id="metrics" href="/metrics">metrics</a></header>
<main>
"#;

/// Fills the cards from `/healthz` every 2 s. The token the page was loaded with (still
/// percent-encoded, exactly as the server accepted it) goes on every URL it loads.
const PAGE_TAIL: &str = r#"</main>
<script>
(function () {
  var m = /[?&]token=([^&#]*)/.exec(location.search);
  var q = m ? "?token=" + m[1] : "";
  document.getElementById("metrics").href = "/metrics" + q;
  document.querySelectorAll("img[data-src]").forEach(function (img) {
    var load = function () {
      img.src = img.dataset.src + (q ? q + "&" : "?") + "t=" + Date.now();
    };
    if (img.hasAttribute("data-poll")) {
      img.onload = img.onerror = function () { setTimeout(load, 1000); };
    } else {
      // A live stream that fails (server restarted, too many viewers) is retried.
      img.onerror = function () { setTimeout(load, 5000); };
    }
    load();
  });
  function age(s) {
    if (s < 120) return Math.round(s) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  }
  function show(card, c) {
    card.querySelectorAll("[data-f]").forEach(function (el) {
      var v = c[el.dataset.f];
      el.textContent = v === null || v === undefined ? "" : String(v);
    });
    card.querySelector(".state").className = "state " + c.state;
    card.querySelector(".for").textContent = "for " + age(c.state_for_s);
  }
  var up = document.getElementById("up");
  function refresh() {
    fetch("/healthz" + q, { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (h) {
        up.textContent = "up " + age(h.uptime_s);
        document.querySelectorAll(".card").forEach(function (card) {
          var c = h.cameras[card.dataset.name];
          if (c) show(card, c);
        });
      })
      .catch(function (e) { up.textContent = "unreachable (" + e.message + ")"; });
  }
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body></html>
"#;

fn status_page(cameras: &[CameraView]) -> String {
    let mut page = String::from(PAGE_HEAD);
    let mut live = 0;
    for camera in cameras {
        let stream = camera.preview.is_some() && live < LIVE_PREVIEWS_ON_PAGE;
        live += usize::from(stream);
        page.push_str(&camera_card(camera, stream));
    }
    page.push_str(PAGE_TAIL);
    page
}

/// One camera's card; `stream` chooses a live preview over refreshed snapshots.
fn camera_card(camera: &CameraView, stream: bool) -> String {
    let name = html_escape(&camera.name);
    let base = format!("/cameras/{}", percent_encode(&camera.name));
    let picture = match (&camera.preview, stream) {
        (None, _) => r#"<div class="none">no preview</div>"#.to_string(),
        (Some(_), true) => format!(r#"<img data-src="{base}/mjpeg" alt="{name}">"#),
        (Some(_), false) => {
            format!(r#"<img data-src="{base}/snapshot.jpg" data-poll alt="{name}">"#)
        }
    };
    let counters = [
        ("captured", "frames_captured"),
        ("processed", "frames_processed"),
        ("dropped", "frames_dropped"),
        ("reconnects", "reconnects"),
        ("tracks", "active_tracks"),
    ]
    .iter()
    .map(|(label, field)| format!(r#"<dt>{label}</dt><dd data-f="{field}">–</dd>"#))
    .collect::<String>();
    format!(
        r#"<section class="card" data-name="{name}">{picture}
<div class="info"><span class="name">{name}</span><span class="state" data-f="state">…</span><span class="for"></span>
<div class="src">{source}</div>
<dl>{counters}</dl>
<div class="err" data-f="last_error"></div></div></section>
"#,
        source = html_escape(&camera.source),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    use opencv::core::{Mat, Scalar, Vector, CV_8UC3};
    use opencv::imgcodecs;
    use opencv::prelude::*;

    use crate::metrics::SourceState;

    const OTHER: &str = "back <yard>";
    const OTHER_PATH: &str = "/cameras/back%20%3Cyard%3E";

    struct Fixture {
        server: HttpServer,
        preview: Arc<Preview>,
        metrics: Arc<Metrics>,
    }

    fn fixture(config: HttpConfig) -> Fixture {
        let metrics = Metrics::new().unwrap();
        let preview = Preview::new();
        let gate = metrics.camera("gate");
        gate.captured.inc_by(12);
        gate.set_state(SourceState::Streaming, None);
        let cameras = vec![
            CameraView {
                name: "gate".into(),
                source: "rtsp://***@10.0.0.5/stream".into(),
                metrics: gate,
                preview: Some(preview.clone()),
            },
            CameraView {
                name: OTHER.into(),
                source: "/videos/yard.mp4".into(),
                metrics: metrics.camera(OTHER),
                preview: None,
            },
        ];
        let state = Arc::new(HttpState {
            metrics: metrics.clone(),
            cameras,
            started: Instant::now(),
        });
        let config = HttpConfig {
            listen: "127.0.0.1:0".into(),
            ..config
        };
        let server = HttpServer::start(&config, state).unwrap();
        Fixture {
            server,
            preview,
            metrics,
        }
    }

    fn jpeg(shade: f64) -> Vec<u8> {
        let image = Mat::new_rows_cols_with_default(24, 32, CV_8UC3, Scalar::all(shade)).unwrap();
        let mut buf = Vector::<u8>::new();
        imgcodecs::imencode(".jpg", &image, &mut buf, &Vector::new()).unwrap();
        buf.to_vec()
    }

    struct Got {
        status: u16,
        head: String,
        body: Vec<u8>,
    }

    impl Got {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
            })
        }

        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    /// Far longer than any step here takes, however loaded the machine: a test fails on it only
    /// when what it waits for never comes.
    const PATIENCE: Duration = Duration::from_secs(60);

    fn connect(addr: SocketAddr, request: &str) -> TcpStream {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s
    }

    fn send(addr: SocketAddr, method: &str, target: &str, headers: &str) -> Got {
        let request =
            format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n");
        let mut raw = Vec::new();
        connect(addr, &request).read_to_end(&mut raw).unwrap();
        parse(&raw).unwrap_or_else(|| panic!("incomplete response: {raw:?}"))
    }

    fn get(addr: SocketAddr, target: &str) -> Got {
        send(addr, "GET", target, "")
    }

    /// The status, head and (de-chunked) body of a response, once its head is complete.
    fn parse(raw: &[u8]) -> Option<Got> {
        let end = find(raw, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let mut got = Got {
            status,
            head,
            body: raw[end + 4..].to_vec(),
        };
        if got.header("Transfer-Encoding") == Some("chunked") {
            got.body = dechunk(&got.body).0;
        }
        Some(got)
    }

    /// The data of the complete chunks, and whether the last chunk arrived.
    fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        while let Some(eol) = find(raw, b"\r\n") {
            let size = std::str::from_utf8(&raw[..eol]).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                return (out, true);
            }
            let Some(data) = raw.get(eol + 2..eol + 2 + size) else {
                break;
            };
            out.extend_from_slice(data);
            raw = raw.get(eol + 4 + size..).unwrap_or(&[]);
        }
        (out, false)
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    /// The JPEGs of complete parts of a multipart body.
    fn jpeg_parts(body: &[u8]) -> Vec<Vec<u8>> {
        let mut parts = Vec::new();
        let mut rest = body;
        while let Some(start) = find(rest, b"--frame\r\n") {
            rest = &rest[start..];
            let Some(end) = find(rest, b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&rest[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            let Some(jpeg) = rest.get(end + 4..end + 4 + len) else {
                break;
            };
            parts.push(jpeg.to_vec());
            rest = &rest[end + 4 + len..];
        }
        parts
    }

    /// Runs `work` on another thread; its result, or a failure naming `what` if it has not
    /// returned by the deadline (it is blocked, not slow).
    fn within_patience<T: Send + 'static>(
        what: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(work());
        });
        rx.recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{what}: no result after {PATIENCE:?} ({e})"))
    }

    /// Reads from a stream until `done` holds for what arrived, or fails after `PATIENCE`.
    fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        while !done(&raw) {
            assert!(Instant::now() < deadline, "timed out: {raw:?}");
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
        }
        raw
    }

    /// Publishes two JPEGs in turn every 30 ms until dropped.
    struct Publisher(Arc<AtomicBool>, Option<JoinHandle<()>>);

    impl Publisher {
        fn start(preview: Arc<Preview>) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let frames = [jpeg(40.0), jpeg(200.0)];
            let thread = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        preview.publish(frames[i % 2].clone());
                        std::thread::sleep(Duration::from_millis(30));
                    }
                })
            };
            Self(stop, Some(thread))
        }
    }

    impl Drop for Publisher {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            if let Some(t) = self.1.take() {
                t.join().unwrap();
            }
        }
    }

    #[test]
    fn healthz_reports_every_camera_with_its_state_and_counters() {
        let f = fixture(HttpConfig::default());
        let got = get(f.server.local_addr(), "/healthz");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("Content-Type"), Some("application/json"));
        let json = got.json();
        assert_eq!(json["status"], "ok");
        assert!(json["uptime_s"].as_f64().unwrap() >= 0.0);
        let gate = &json["cameras"]["gate"];
        assert_eq!(gate["state"], "streaming");
        assert_eq!(gate["frames_captured"], 12);
        assert!(gate["last_error"].is_null());
        for key in [
            "state_for_s",
            "since_unix_s",
            "frames_processed",
            "frames_dropped",
            "reconnects",
            "active_tracks",
        ] {
            assert!(gate[key].is_number(), "{key} in {gate}");
        }
        assert_eq!(json["cameras"][OTHER]["state"], "connecting");
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let f = fixture(HttpConfig::default());
        let got = get(f.server.local_addr(), "/metrics");
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("Content-Type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = String::from_utf8(got.body).unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let captured = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "vigil_frames_captured_total" && s.labels.get("camera") == Some("gate")
            })
            .unwrap();
        assert!(matches!(captured.value, prometheus_parse::Value::Counter(v) if v == 12.0));
        drop(f.metrics);
    }

    #[test]
    fn mjpeg_streams_new_frames_as_jpeg_parts() {
        let f = fixture(HttpConfig::default());
        let mut s = connect(
            f.server.local_addr(),
            "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let _publisher = Publisher::start(f.preview.clone());
        let raw = read_until(&mut s, |raw| {
            parse(raw).is_some_and(|got| jpeg_parts(&got.body).len() >= 2)
        });
        let got = parse(&raw).unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("Content-Type"),
            Some("multipart/x-mixed-replace; boundary=frame")
        );
        for part in jpeg_parts(&got.body) {
            assert_eq!(&part[..2], &[0xFF, 0xD8]);
        }
    }

    #[test]
    fn an_http10_stream_ends_when_the_preview_closes() {
        let f = fixture(HttpConfig::default());
        f.preview.publish(jpeg(90.0));
        let mut s = connect(
            f.server.local_addr(),
            "GET /cameras/gate/mjpeg HTTP/1.0\r\n\r\n",
        );
        read_until(&mut s, |raw| {
            parse(raw).is_some_and(|got| !jpeg_parts(&got.body).is_empty())
        });
        f.preview.close();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.ends_with(b"--frame--\r\n"), "{rest:?}");
    }

    #[test]
    fn stopping_the_server_ends_streams_and_closes_the_port() {
        let f = fixture(HttpConfig::default());
        let addr = f.server.local_addr();
        f.preview.publish(jpeg(90.0));
        let mut s = connect(
            addr,
            "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let mut raw = read_until(&mut s, |raw| {
            parse(raw).is_some_and(|got| !jpeg_parts(&got.body).is_empty())
        });
        // The stop neither waits for the stream's viewer nor hangs.
        let server = f.server;
        within_patience("stopping the server", move || server.stop());
        s.read_to_end(&mut raw).unwrap();
        let end = find(&raw, b"\r\n\r\n").unwrap();
        let (body, complete) = dechunk(&raw[end + 4..]);
        assert!(complete && body.ends_with(b"--frame--\r\n"));
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(addr).is_ok() {
            assert!(Instant::now() < deadline, "still listening after stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_stalled_viewer_slows_neither_the_pipeline_nor_other_requests() {
        let f = fixture(HttpConfig::default());
        let addr = f.server.local_addr();
        // Read up to its head, so that its stream thread is running, then never again: its
        // socket buffers fill and that thread blocks in a write, for good.
        let mut stalled = connect(addr, "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
        read_until(&mut stalled, |raw| parse(raw).is_some());
        let big = {
            let mut b = jpeg(10.0);
            b.resize(512 * 1024, 0);
            b
        };
        // A viewer that never reads blocks forever whatever waits on it: the camera's publishing
        // and the other requests must come through, however long a loaded machine takes.
        let preview = f.preview.clone();
        let frame = big.clone();
        within_patience("publishing while a viewer is stalled", move || {
            for _ in 0..50 {
                preview.publish(frame.clone());
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let (health, snapshot) = within_patience("requests while a viewer is stalled", move || {
            (
                get(addr, "/healthz"),
                get(addr, "/cameras/gate/snapshot.jpg"),
            )
        });
        assert_eq!(health.status, 200);
        assert_eq!(snapshot.body.len(), big.len());
        drop(stalled);
    }

    #[test]
    fn streams_beyond_the_limit_get_503() {
        let f = fixture(HttpConfig {
            max_stream_clients: 1,
            ..HttpConfig::default()
        });
        let addr = f.server.local_addr();
        let mut first = connect(addr, "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
        read_until(&mut first, |raw| parse(raw).is_some());
        let second = get(addr, "/cameras/gate/mjpeg");
        assert_eq!(second.status, 503);
        assert_eq!(second.header("Retry-After"), Some("5"));
    }

    #[test]
    fn snapshot_is_the_latest_frame_and_503_before_the_first() {
        let f = fixture(HttpConfig::default());
        let addr = f.server.local_addr();
        let got = get(addr, "/cameras/gate/snapshot.jpg");
        assert_eq!(got.status, 503);
        assert_eq!(got.json()["error"], "no frame yet");
        f.preview.publish(jpeg(10.0));
        let latest = jpeg(250.0);
        f.preview.publish(latest.clone());
        let got = get(addr, "/cameras/gate/snapshot.jpg");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("Content-Type"), Some("image/jpeg"));
        assert_eq!(got.body, latest);
    }

    #[test]
    fn unknown_paths_cameras_and_methods_are_refused_with_json() {
        let f = fixture(HttpConfig::default());
        let addr = f.server.local_addr();
        for (target, status) in [
            ("/nope", 404),
            ("/cameras/nope/mjpeg", 404),
            ("/cameras/nope/snapshot.jpg", 404),
            ("/cameras/gate/other", 404),
            ("/cameras/gate/mjpeg/x", 404),
            ("/cameras/%zz/mjpeg", 404),
        ] {
            let got = get(addr, target);
            assert_eq!(got.status, status, "{target}");
            assert!(got.json()["error"].is_string(), "{target}");
        }
        let got = get(addr, &format!("{OTHER_PATH}/mjpeg"));
        assert_eq!(got.status, 404);
        assert!(got.json()["error"]
            .as_str()
            .unwrap()
            .contains("sends no pictures"));
        let got = send(addr, "POST", "/healthz", "Content-Length: 0\r\n");
        assert_eq!(got.status, 405);
        assert_eq!(got.json()["error"], "method not allowed");
    }

    #[test]
    fn the_status_page_shows_escaped_cameras_and_previews() {
        let f = fixture(HttpConfig::default());
        let got = get(f.server.local_addr(), "/");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("Content-Type"), Some("text/html; charset=utf-8"));
        let page = String::from_utf8(got.body).unwrap();
        assert!(page.contains(r#"data-src="/cameras/gate/mjpeg""#));
        assert!(page.contains("back &lt;yard&gt;"));
        assert!(!page.contains(OTHER));
        assert!(page.contains("rtsp://***@10.0.0.5/stream"));
        assert!(page.contains("/healthz"));
        assert!(page.contains("/metrics"));
    }

    #[test]
    fn a_token_is_required_on_every_route_when_set() {
        let token = "s3cr+t/=x";
        let f = fixture(HttpConfig {
            token: Some(token.into()),
            ..HttpConfig::default()
        });
        let addr = f.server.local_addr();
        for target in ["/", "/healthz", "/metrics", "/nope", "/cameras/gate/mjpeg"] {
            let got = get(addr, target);
            assert_eq!(got.status, 401, "{target}");
            assert_eq!(got.header("WWW-Authenticate"), Some("Bearer"));
            assert_eq!(got.json()["error"], "unauthorized");
        }
        let wrong = send(
            addr,
            "GET",
            "/healthz",
            "Authorization: Bearer s3cr+t/=y\r\n",
        );
        assert_eq!(wrong.status, 401);
        assert_eq!(get(addr, "/healthz?token=s3cr").status, 401);
        let header = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(send(addr, "GET", "/healthz", &header).status, 200);
        assert_eq!(get(addr, "/healthz?token=s3cr%2Bt%2F%3Dx").status, 200);
        assert_eq!(
            get(addr, &format!("/metrics?x=1&token={token}")).status,
            200
        );
    }

    #[test]
    fn a_busy_port_is_the_users_error() {
        let f = fixture(HttpConfig::default());
        let config = HttpConfig {
            listen: f.server.local_addr().to_string(),
            ..HttpConfig::default()
        };
        let state = Arc::new(HttpState {
            metrics: f.metrics.clone(),
            cameras: Vec::new(),
            started: Instant::now(),
        });
        let Err(Error::Input(message)) = HttpServer::start(&config, state) else {
            panic!("a second server bound the same port");
        };
        assert!(
            message.starts_with(&format!("http.listen '{}': cannot bind:", config.listen)),
            "{message}"
        );
    }

    fn config(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen.into(),
            token: token.map(String::from),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn validate_requires_a_token_off_loopback() {
        assert_eq!(
            config("0.0.0.0:8080", None).validate().unwrap_err(),
            "http.token is required when http.listen (0.0.0.0:8080) is not a loopback address"
        );
        assert!(config("0.0.0.0:8080", Some("")).validate().is_err());
        assert!(config("[::]:8080", None).validate().is_err());
        config("0.0.0.0:8080", Some("t0ken")).validate().unwrap();
        config("127.0.0.1:8080", None).validate().unwrap();
        config("127.0.0.2:8080", None).validate().unwrap();
        config("localhost:9000", None).validate().unwrap();
        config("[::1]:9000", None).validate().unwrap();
        HttpConfig::default().validate().unwrap();
    }

    #[test]
    fn validate_names_the_key_of_a_bad_value() {
        assert_eq!(
            config("x", None).validate().unwrap_err(),
            r#"http.listen = "x": not a host:port address"#
        );
        let bad = [
            (
                "http.preview_fps",
                HttpConfig {
                    preview_fps: 0.0,
                    ..HttpConfig::default()
                },
            ),
            (
                "http.preview_width",
                HttpConfig {
                    preview_width: 0,
                    ..HttpConfig::default()
                },
            ),
            (
                "http.max_stream_clients",
                HttpConfig {
                    max_stream_clients: 0,
                    ..HttpConfig::default()
                },
            ),
            ("http.token", config("127.0.0.1:1", Some("a b"))),
        ];
        for (key, c) in bad {
            assert!(c.validate().unwrap_err().starts_with(key), "{key}");
        }
    }

    #[test]
    fn the_config_reads_from_toml_and_never_prints_the_token() {
        let c: HttpConfig =
            toml::from_str("listen = \"0.0.0.0:9090\"\ntoken = \"hunter2\"\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9090");
        assert_eq!(c.max_stream_clients, 8);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(toml::from_str::<HttpConfig>("listne = \"x\"").is_err());
    }

    #[test]
    fn helpers_decode_and_escape() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_encode("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert_eq!(
            html_escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }
}
