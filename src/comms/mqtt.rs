//! The process's one MQTT connection, shared by every camera: messages are published at QoS 1.
//!
//! Publishing never waits for the network: a camera's `CameraQueue::push` only queues a message
//! in a bounded buffer shared by all cameras (`queue.rs`), and one thread (`mqtt`,
//! `connection.rs`) moves them to the broker, reconnecting forever with backoff. Delivery is at
//! least once: a message leaves the buffer only when it is handed to the MQTT client, and the
//! client's un-acknowledged publishes are kept across a reconnection and sent again (see
//! `Io::on_failure`), whatever session the broker kept.
//!
//! What a camera publishes (topics, payloads, the cadence of track snapshots) is its sink's:
//! `sink::mqtt`, whose `MqttPublisher::sink` makes one.

mod config;
mod connection;
mod queue;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use config::MqttConfig;

use crate::error::{Error, Result};
use crate::metrics::CameraMetrics;
use queue::{lock, wait_on, Message, Origin, Shared, Stop};

/// Publishes handed to the MQTT client and not yet acknowledged, at most (rumqttc's window).
const INFLIGHT: u16 = 32;
/// Largest packet we send. A bigger message is dropped when queued: sent, it would fail the
/// connection, be re-sent after the reconnection, and fail it again, forever.
const MAX_PACKET_BYTES: usize = 1 << 20;
/// How often an idle connection looks for newly queued messages.
const IDLE_POLL: Duration = Duration::from_millis(20);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Time given to the DISCONNECT packet once delivery is over.
const DISCONNECT_WAIT: Duration = Duration::from_millis(250);

/// The process's one connection to the broker, shared by every camera's sink.
pub struct MqttPublisher {
    shared: Arc<Shared>,
    config: MqttConfig,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl MqttPublisher {
    /// Starts the connection thread. Fails only on a bad configuration: a broker that is away
    /// is connected to in the background, again and again until it answers.
    pub fn start(config: &MqttConfig) -> Result<Arc<MqttPublisher>> {
        config.validate().map_err(Error::input)?;
        let shared = Arc::new(Shared::new(config.buffer));
        let thread = connection::spawn(config, shared.clone())?;
        Ok(Arc::new(MqttPublisher {
            shared,
            config: config.clone(),
            thread: Mutex::new(Some(thread)),
        }))
    }

    pub fn config(&self) -> &MqttConfig {
        &self.config
    }

    /// One camera's way into the queue. The connection's troubles are reported in its health
    /// from now on (the one under way, if any, at once).
    pub fn register(self: &Arc<Self>, camera: &str, metrics: CameraMetrics) -> CameraQueue {
        let origin = Arc::new(Origin {
            camera: camera.to_string(),
            metrics,
        });
        self.shared.register(&origin);
        CameraQueue {
            publisher: self.clone(),
            origin,
            warned_oversize: false,
        }
    }

    /// True while the broker has accepted the connection.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Delivers what is queued and awaits the broker's acknowledgements for up to `timeout`,
    /// then disconnects. What is still queued then is counted as dropped. Returns within about
    /// `timeout` + 0.5 s even if the thread is stuck on the network (a connect attempt, a
    /// silent broker): it is then left to finish on its own. Messages written meanwhile are
    /// still delivered if time allows; after the thread has stopped they count as dropped.
    pub fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let finished = {
            let mut o = lock(&self.shared.outbox);
            if o.stop == Stop::Running {
                o.stop = Stop::Drain(deadline);
                self.shared.signal.notify_all();
            }
            let until = deadline + DISCONNECT_WAIT * 2;
            while !o.finished {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                o = wait_on(&self.shared.signal, o, until - now);
            }
            o.finished
        };
        let thread = lock(&self.thread).take();
        match thread {
            Some(t) if finished => {
                let _ = t.join();
            }
            Some(_) => tracing::warn!("MQTT: still busy with the network at shutdown; leaving it"),
            None => {}
        }
    }
}

impl Drop for MqttPublisher {
    /// Without `shutdown`, the thread stops at once rather than run on with no one to feed it.
    fn drop(&mut self) {
        let mut o = lock(&self.shared.outbox);
        if o.stop == Stop::Running {
            o.stop = Stop::Now;
        }
        self.shared.signal.notify_all();
    }
}

/// One camera's messages into the shared queue: what is dropped (an overflow, an oversize
/// message, the queue closed) is counted against that camera. It keeps the connection up.
pub struct CameraQueue {
    publisher: Arc<MqttPublisher>,
    origin: Arc<Origin>,
    warned_oversize: bool,
}

impl CameraQueue {
    pub fn camera(&self) -> &str {
        &self.origin.camera
    }

    pub fn config(&self) -> &MqttConfig {
        &self.publisher.config
    }

    /// Queues a message for `topic`. A `snapshot` (the latest state, not an event) replaces the
    /// camera's queued one, and is the first to go when the queue is full.
    pub fn push(&mut self, topic: &str, payload: Vec<u8>, snapshot: bool) {
        if topic.len() + payload.len() + 16 > MAX_PACKET_BYTES {
            self.oversize(payload.len());
            return;
        }
        let message = Message {
            topic: topic.to_string(),
            payload,
            snapshot,
            origin: self.origin.clone(),
        };
        self.publisher.shared.push(message);
    }

    fn oversize(&mut self, bytes: usize) {
        let metrics = &self.origin.metrics;
        metrics.events_dropped("mqtt", 1);
        metrics.sink_error("mqtt");
        if !self.warned_oversize {
            self.warned_oversize = true;
            let msg = format!(
                "MQTT: a {bytes}-byte message exceeds the {MAX_PACKET_BYTES}-byte limit; dropped"
            );
            tracing::warn!(camera = self.origin.camera, "{msg}");
            metrics.health.report_error(&msg);
        }
    }
}
