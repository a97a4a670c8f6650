//! What the endpoint tests share: a fake daemon (`FakeCameras`), a server on a free port, and a
//! raw HTTP/1.1 client that shows exactly what went over the wire.
#![cfg(test)] // test-only (declared under #[cfg(test)] in mod.rs): unwraps here are assertions

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opencv::core::{Mat, Scalar, Vector, CV_8UC3};
use opencv::imgcodecs;
use opencv::prelude::*;

use super::{
    ApiError, Applied, CameraView, Cameras, EventQuery, HttpConfig, HttpServer, HttpState,
};
use crate::metrics::{Metrics, SourceState};
use crate::sink::Preview;

/// A daemon's cameras in memory: `put` adds a view (refusing a section without `url`, as the
/// config would), `delete` removes it; events are a fixed list filtered as the contract says.
pub(super) struct FakeCameras {
    pub metrics: Arc<Metrics>,
    pub cameras: Mutex<Vec<CameraView>>,
    /// Every section `put` accepted, in order.
    pub sections: Mutex<Vec<(String, serde_json::Value)>>,
    pub events: Vec<serde_json::Value>,
}

impl Cameras for FakeCameras {
    fn views(&self) -> Vec<CameraView> {
        self.cameras.lock().unwrap().clone()
    }

    fn put(&self, name: &str, section: serde_json::Value) -> Result<Applied, ApiError> {
        let Some(url) = section["url"].as_str() else {
            return Err(ApiError::BadRequest(format!("cameras.{name}.url: missing")));
        };
        let view = CameraView {
            name: name.into(),
            source: url.into(),
            enabled: section["enabled"].as_bool().unwrap_or(true),
            metrics: self.metrics.camera(name),
            preview: None,
        };
        self.sections.lock().unwrap().push((name.into(), section));
        let mut cameras = self.cameras.lock().unwrap();
        let applied = match cameras.iter_mut().find(|c| c.name == name) {
            Some(old) => {
                *old = view;
                Applied::Replaced
            }
            None => {
                cameras.push(view);
                Applied::Created
            }
        };
        cameras.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(applied)
    }

    fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut cameras = self.cameras.lock().unwrap();
        let before = cameras.len();
        cameras.retain(|c| c.name != name);
        if cameras.len() == before {
            return Err(ApiError::NotFound(format!("no camera named {name:?}")));
        }
        Ok(())
    }

    fn events(&self, q: &EventQuery) -> Vec<serde_json::Value> {
        let kept: Vec<_> = self
            .events
            .iter()
            .filter(|e| q.camera.as_ref().is_none_or(|c| e["camera"] == **c))
            .filter(|e| q.kind.as_ref().is_none_or(|k| e["type"] == **k))
            .filter(|e| q.since.is_none_or(|s| e["time"].as_f64().unwrap() > s))
            .cloned()
            .collect();
        // Deliberately ignores `limit`: the endpoint keeps the newest ones itself.
        kept
    }

    fn pool(&self) -> serde_json::Value {
        serde_json::json!({ "queue": 3, "runs": 120 })
    }
}

pub(super) struct Fixture {
    pub server: HttpServer,
    pub preview: Arc<Preview>,
    pub metrics: Arc<Metrics>,
    pub cameras: Arc<FakeCameras>,
}

impl Fixture {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

/// A server on a free loopback port with two cameras: `gate` (streaming, 12 frames, a preview)
/// and `OTHER` (connecting, no preview); four events, one a second from time 100.
pub(super) fn fixture(config: HttpConfig) -> Fixture {
    let metrics = Metrics::new().unwrap();
    let preview = Preview::new();
    let gate = metrics.camera("gate");
    gate.captured.inc_by(12);
    gate.set_state(SourceState::Streaming, None);
    let views = vec![
        CameraView {
            name: "gate".into(),
            source: "rtsp://***@10.0.0.5/stream".into(),
            enabled: true,
            metrics: gate,
            preview: Some(preview.clone()),
        },
        CameraView {
            name: OTHER.into(),
            source: "/videos/yard.mp4".into(),
            enabled: true,
            metrics: metrics.camera(OTHER),
            preview: None,
        },
    ];
    let events = [
        ("gate", "track_started"),
        ("lobby", "track_started"),
        ("gate", "line_crossed"),
        ("gate", "track_ended"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (camera, kind))| {
        serde_json::json!({ "camera": camera, "type": kind, "id": i, "time": 100.0 + i as f64 })
    })
    .collect();
    let cameras = Arc::new(FakeCameras {
        metrics: metrics.clone(),
        cameras: Mutex::new(views),
        sections: Mutex::default(),
        events,
    });
    let state = Arc::new(HttpState {
        metrics: metrics.clone(),
        started: Instant::now(),
        cameras: cameras.clone(),
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
        cameras,
    }
}

/// A camera whose name needs escaping everywhere it is shown, and which has no preview.
pub(super) const OTHER: &str = "back <yard>";
pub(super) const OTHER_PATH: &str = "/cameras/back%20%3Cyard%3E";

pub(super) fn jpeg(shade: f64) -> Vec<u8> {
    let image = Mat::new_rows_cols_with_default(24, 32, CV_8UC3, Scalar::all(shade)).unwrap();
    let mut buf = Vector::<u8>::new();
    imgcodecs::imencode(".jpg", &image, &mut buf, &Vector::new()).unwrap();
    buf.to_vec()
}

pub(super) struct Got {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Far longer than any step here takes, however loaded the machine: a test fails on it only
/// when what it waits for never comes.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

pub(super) fn connect(addr: SocketAddr, request: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s
}

pub(super) fn send(addr: SocketAddr, method: &str, target: &str, headers: &str) -> Got {
    let request =
        format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n");
    let mut raw = Vec::new();
    connect(addr, &request).read_to_end(&mut raw).unwrap();
    parse(&raw).unwrap_or_else(|| panic!("incomplete response: {raw:?}"))
}

/// A request with a JSON body.
pub(super) fn send_body(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Got {
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = connect(addr, &head);
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw).unwrap_or_else(|| panic!("incomplete response: {raw:?}"))
}

pub(super) fn get(addr: SocketAddr, target: &str) -> Got {
    send(addr, "GET", target, "")
}

/// The status, head and (de-chunked) body of a response, once its head is complete.
pub(super) fn parse(raw: &[u8]) -> Option<Got> {
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
pub(super) fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
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

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JPEGs of complete parts of a multipart body.
pub(super) fn jpeg_parts(body: &[u8]) -> Vec<Vec<u8>> {
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
pub(super) fn within_patience<T: Send + 'static>(
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
pub(super) fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
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
pub(super) struct Publisher(Arc<AtomicBool>, Option<JoinHandle<()>>);

impl Publisher {
    pub fn start(preview: Arc<Preview>) -> Self {
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

/// A fixed set of cameras, for the endpoint tests: the API shows them and refuses every change.
pub struct FixedCameras(pub Vec<CameraView>);

impl Cameras for FixedCameras {
    fn views(&self) -> Vec<CameraView> {
        self.0.clone()
    }

    fn put(
        &self,
        _name: &str,
        _section: serde_json::Value,
    ) -> std::result::Result<Applied, ApiError> {
        Err(ApiError::BadRequest(
            "cameras cannot be changed in this build".into(),
        ))
    }

    fn delete(&self, _name: &str) -> std::result::Result<(), ApiError> {
        Err(ApiError::BadRequest(
            "cameras cannot be changed in this build".into(),
        ))
    }

    fn events(&self, _query: &EventQuery) -> Vec<serde_json::Value> {
        Vec::new()
    }

    fn pool(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
