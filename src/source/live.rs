//! A live source that survives: it reopens a camera or stream that fails, stalls or ends, with
//! exponential backoff and jitter, forever, until the pipeline is stopped. Timestamps come from
//! the capture clock, so they keep increasing across reconnects and the tracker's clock never
//! jumps back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::probe::explain_failure;
use super::{redact_url, FrameSource, RawFrame, SourceInfo, StreamOptions, VideoSource};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::metrics::{CameraMetrics, SourceState};

/// Where a live source reads from.
/// No `Debug`: a URL may hold a password.
#[derive(Clone)]
pub enum LiveInput {
    Url(String),
    Camera(i32),
}

impl LiveInput {
    fn name(&self) -> String {
        match self {
            LiveInput::Url(url) => redact_url(url),
            LiveInput::Camera(index) => format!("camera {index}"),
        }
    }

    fn open(&self, options: &StreamOptions) -> Result<VideoSource> {
        match self {
            LiveInput::Url(url) => VideoSource::open_url(url, options).map_err(|e| {
                // OpenCV only says that the open failed; ask the server why, in one line.
                explain_failure(url, options.open_timeout_s).map_or(e, |why| {
                    Error::input(format!("stream '{}': {why}", redact_url(url)))
                })
            }),
            LiveInput::Camera(index) => VideoSource::open_camera(*index, options),
        }
    }
}

/// The waits between a camera's reconnections: the limit doubles from `backoff_initial_s` to
/// `backoff_max_s`, each wait drawn uniformly from [½·limit, limit] so that many cameras behind
/// one failed switch do not reconnect in lockstep.
fn reconnect_backoff(options: &StreamOptions) -> Backoff {
    Backoff::new(
        Duration::from_secs_f64(options.backoff_initial_s),
        Duration::from_secs_f64(options.backoff_max_s),
        0.5..=1.0,
    )
}

pub struct LiveSource {
    input: LiveInput,
    options: StreamOptions,
    info: SourceInfo,
    capture: Option<VideoSource>,
    metrics: CameraMetrics,
    stop: Arc<AtomicBool>,
    backoff: Backoff,
    started: Instant,
    next_index: u64,
    connections: u64,
    /// Connection attempts since the stream was last healthy; all but the first wait.
    attempts: u32,
    connected_at: Option<Instant>,
}

impl LiveSource {
    /// Opens the first connection. With `must_connect_first`, a failure of that first attempt is
    /// returned (a mistyped URL on the command line ends at once, exit 2); otherwise the source
    /// starts in backoff and keeps trying (a daemon's camera that is not up yet).
    pub fn open(
        input: LiveInput,
        options: StreamOptions,
        metrics: CameraMetrics,
        stop: Arc<AtomicBool>,
        must_connect_first: bool,
    ) -> Result<Self> {
        let name = input.name();
        let mut source = Self {
            backoff: reconnect_backoff(&options),
            info: SourceInfo {
                name,
                width: 0,
                height: 0,
                fps: 25.0,
                frame_count: None,
                live: true,
            },
            input,
            options,
            capture: None,
            metrics,
            stop,
            started: Instant::now(),
            next_index: 0,
            connections: 0,
            attempts: 0,
            connected_at: None,
        };
        // A daemon's camera connects in its own capture thread, so that a slow or dead camera
        // delays neither the others, nor the HTTP endpoints, nor a stop.
        if must_connect_first {
            source.attempts += 1;
            source.connect()?;
        } else {
            source.metrics.set_state(SourceState::Connecting, None);
        }
        Ok(source)
    }

    /// Opens the stream. Retries from backoff stay in that state until one succeeds, so a camera
    /// that is down for an hour logs its problem once, not at every attempt.
    fn connect(&mut self) -> Result<()> {
        if self.metrics.health.state() != SourceState::Backoff {
            self.metrics.set_state(SourceState::Connecting, None);
        }
        let capture = self.input.open(&self.options)?;
        let new = capture.info();
        if self.connections > 0 {
            self.metrics.reconnects.inc();
            if (new.width, new.height) != (self.info.width, self.info.height) {
                tracing::info!(camera = %self.metrics.name, width = new.width, height = new.height,
                    "resolution changed after reconnecting");
            }
        }
        self.connections += 1;
        self.info.width = new.width;
        self.info.height = new.height;
        self.info.fps = new.fps;
        self.capture = Some(capture);
        self.connected_at = Some(Instant::now());
        self.metrics.set_state(SourceState::Streaming, None);
        Ok(())
    }

    /// A connection that delivered frames for at least `stall_timeout_s` was healthy: its loss
    /// is retried at once and the backoff starts over. One that failed sooner (a server that
    /// accepts and then ends the stream at once) backs off like a failed open, so a broken
    /// camera is never hammered.
    fn lost_connection(&mut self) {
        self.capture = None;
        let healthy = self
            .connected_at
            .take()
            .is_some_and(|t| t.elapsed().as_secs_f64() >= self.options.stall_timeout_s);
        let why = format!(
            "no frame within {} s or the stream ended; reconnecting",
            self.options.stall_timeout_s
        );
        self.metrics.set_state(SourceState::Stalled, Some(&why));
        if healthy {
            self.backoff.reset();
            self.attempts = 0;
        }
    }

    /// Sleeps for the next backoff interval, waking early when the pipeline stops.
    fn back_off(&mut self) {
        let wait = self.backoff.next_wait(&mut rand::thread_rng());
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl FrameSource for LiveSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        loop {
            if self.stopped() {
                return Ok(None);
            }
            let Some(capture) = self.capture.as_mut() else {
                if self.attempts > 0 {
                    self.back_off();
                    if self.stopped() {
                        return Ok(None);
                    }
                }
                self.attempts += 1;
                if let Err(e) = self.connect() {
                    self.metrics
                        .set_state(SourceState::Backoff, Some(&e.to_string()));
                }
                continue;
            };
            match capture.next_frame() {
                Ok(Some(raw)) => {
                    let index = self.next_index;
                    self.next_index += 1;
                    return Ok(Some(RawFrame {
                        index,
                        pts_ms: self.started.elapsed().as_secs_f64() * 1000.0,
                        image: raw.image,
                    }));
                }
                // A read gives up after stall_timeout_s (FFmpeg's read timeout), or the server
                // ended the stream: either way, reopen it.
                Ok(None) | Err(_) => self.lost_connection(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use rand::SeedableRng;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Mutex;

    #[test]
    fn backoff_doubles_up_to_its_limit_with_jitter_and_resets() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = reconnect_backoff(&StreamOptions {
            backoff_initial_s: 0.5,
            backoff_max_s: 4.0,
            ..Default::default()
        });
        let waits: Vec<f64> = (0..6)
            .map(|_| b.next_wait(&mut rng).as_secs_f64())
            .collect();
        for (w, limit) in waits.iter().zip([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]) {
            assert!(*w >= limit * 0.5 && *w <= limit, "{w} vs {limit}");
        }
        b.reset();
        assert!(b.next_wait(&mut rng).as_secs_f64() <= 0.5);
    }

    /// Far longer than any step here takes, however loaded the machine.
    const PATIENCE: Duration = Duration::from_secs(120);

    /// The most connection attempts that fit in `elapsed` when the waits between them follow
    /// the documented schedule: the first attempt at once, then waits drawn from
    /// [½·limit, limit], the limit doubling from `initial_s` up to `max_s`. Each wait is taken a
    /// millisecond shorter than its least, for rounding.
    fn most_attempts(elapsed: Duration, initial_s: f64, max_s: f64) -> usize {
        let (mut attempts, mut at, mut limit) = (1, 0.0, initial_s);
        loop {
            at += limit * 0.5 - 1e-3;
            if at > elapsed.as_secs_f64() {
                return attempts;
            }
            attempts += 1;
            limit = (limit * 2.0).min(max_s);
        }
    }

    /// A camera that accepts the connection and hangs up: every open fails, and the source
    /// retries no faster than its backoff allows. The count of attempts over the time the
    /// source ran is bounded above by the schedule; a loaded machine only makes fewer.
    #[test]
    fn a_camera_that_hangs_up_is_retried_no_faster_than_its_backoff() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // The first request of each connection, in the order they were accepted.
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        {
            let requests = requests.clone();
            std::thread::spawn(move || {
                for mut conn in listener.incoming().flatten() {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 2048];
                    let n = conn.read(&mut buf).unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    requests.lock().unwrap().push(request);
                    // Dropped here: the connection is closed without an answer.
                }
            });
        }
        // Each attempt is one connection of FFmpeg's, then one of the probe that asks the
        // server why the open failed (`source::probe`, which says `User-Agent: vigil`).
        let attempts = || {
            requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| !r.contains("User-Agent: vigil") && r.as_str() != "SENTINEL")
                .count()
        };

        let options = StreamOptions::default();
        let (initial_s, max_s) = (options.backoff_initial_s, options.backoff_max_s);
        assert_eq!((initial_s, max_s), (0.5, 30.0), "the documented defaults");
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let source = {
            let stop = stop.clone();
            let url = format!("rtsp://127.0.0.1:{port}/cam");
            std::thread::spawn(move || {
                let metrics = Metrics::new().unwrap().camera("door");
                // As the daemon opens a camera: the first failure is retried, not returned.
                let mut source =
                    LiveSource::open(LiveInput::Url(url), options, metrics, stop, false).unwrap();
                // It never gets a frame: this returns when stopped.
                assert!(source.next_frame().unwrap().is_none());
            })
        };
        // At least two retries, over at least 4 s: the schedule allows 5 attempts in that time,
        // an open that does not wait hundreds.
        let deadline = started + PATIENCE;
        while attempts() < 3 || started.elapsed() < Duration::from_secs(4) {
            assert!(
                Instant::now() < deadline,
                "{} attempts in {:?}: the camera is not retried",
                attempts(),
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        source.join().unwrap();
        let elapsed = started.elapsed();
        // Connections not yet accepted wait in the listen queue ahead of this one: once it is
        // seen, every attempt the source made is counted.
        let mut sentinel = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sentinel.write_all(b"SENTINEL").unwrap();
        while !requests.lock().unwrap().iter().any(|r| r == "SENTINEL") {
            assert!(Instant::now() < deadline, "the listener fell behind");
            std::thread::sleep(Duration::from_millis(20));
        }
        let attempts = attempts();
        let most = most_attempts(elapsed, initial_s, max_s) + 1;
        eprintln!("{attempts} connection attempts in {elapsed:?}; at most {most} allowed");
        assert!(
            attempts <= most,
            "{attempts} connection attempts in {elapsed:?}; the backoff allows at most {most} \
             (its schedule's {} and one more)",
            most - 1
        );
    }
}
