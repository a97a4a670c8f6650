//! The site's durable event log on NATS JetStream: stream `VIGIL_EVENTS`, subject
//! `vigil.SITE.CAMERA.events`, message id `CAMERA:SEQ` (the server drops a repeat). One
//! connection per process; cameras hand their messages to a bounded queue and never wait for
//! the log (a full queue drops and counts, as MQTT's does). Each message is published until the
//! log acknowledges it, as long as this instance's ownership (its [`FenceGuard`]) holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

const STREAM: &str = "VIGIL_EVENTS";

/// `[nats]`: the durable event log.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub servers: Vec<String>,
    /// Replicas of the `VIGIL_EVENTS` stream (at most the servers given).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// Events that may wait for the log; more are dropped and counted, never blocking a camera.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
}

fn default_replicas() -> usize {
    3
}

fn default_buffer() -> usize {
    10_000
}

impl NatsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() || self.servers.iter().any(|u| !u.starts_with("nats://")) {
            return Err("nats.servers: one or more nats:// URLs".into());
        }
        if self.replicas == 0 || self.replicas > 5 {
            return Err(format!("nats.replicas = {}: from 1 to 5", self.replicas));
        }
        if self.buffer == 0 {
            return Err("nats.buffer = 0: must be at least 1".into());
        }
        Ok(())
    }
}

/// How long before its lease could lapse an instance stops speaking for its cameras: a sixth of
/// the lease, at least half a second (a renewal's round trip and the clocks' drift are far less).
pub fn safety_margin_ms(lease_ms: u64) -> u64 {
    (lease_ms / 6).max(500)
}

/// Whether this instance may still speak for its cameras: until its last renewal plus the lease
/// less a safety margin (etcd counts the lease from when it received the renewal, which was
/// before this instance heard back). Between then and the whole lease a renewal may still come
/// (an etcd leader election takes a second or two): what waits to be said waits; past the whole
/// lease it is dropped.
#[derive(Clone, Default)]
pub struct FenceGuard {
    /// Unix ms of the last renewal (0: given up).
    renewed_ms: Arc<AtomicU64>,
    lease_ms: Arc<AtomicU64>,
}

impl FenceGuard {
    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Speaking for the cameras is safe now.
    pub fn holds(&self) -> bool {
        let lease = self.lease_ms.load(Ordering::Relaxed);
        Self::now_ms() + safety_margin_ms(lease) <= self.renewed_ms.load(Ordering::Relaxed) + lease
    }

    /// The lease may have lapsed: nothing said from now on may be sent.
    pub fn gone(&self) -> bool {
        let lease = self.lease_ms.load(Ordering::Relaxed);
        Self::now_ms() > self.renewed_ms.load(Ordering::Relaxed) + lease
    }

    pub fn renewed(&self, lease_s: f64) {
        self.lease_ms
            .store((lease_s * 1000.0) as u64, Ordering::Relaxed);
        self.renewed_ms.store(Self::now_ms(), Ordering::Relaxed);
    }

    pub fn lapse(&self) {
        self.renewed_ms.store(0, Ordering::Relaxed);
    }
}
/// How long the stream may take to be ready at start (a JetStream cluster electing its leader).
const STREAM_READY: Duration = Duration::from_secs(15);
/// How long one publish waits for its acknowledgement before it is tried again.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// One message for the log.
pub struct Outgoing {
    pub subject: String,
    /// `CAMERA:SEQ`.
    pub id: String,
    pub payload: Vec<u8>,
}

/// What an earlier owner of a camera left in the log.
#[derive(Debug, Default)]
pub struct History {
    /// The last `seq` on the camera's subject (0: none).
    pub last_seq: u64,
    /// The highest track id seen.
    pub max_id: u64,
    /// `track_started` events without a `track_ended`, by id.
    pub open: BTreeMap<u64, Value>,
}

/// The process's connection to the log.
pub struct EventStore {
    runtime: tokio::runtime::Runtime,
    stream: stream::Stream,
    queue: mpsc::Sender<Outgoing>,
    site: String,
    /// Messages dropped: the queue was full, or the ownership had lapsed.
    pub dropped: Arc<AtomicU64>,
}

impl EventStore {
    /// Connects, creates the stream when absent, and starts the publishing task.
    pub fn start(config: &NatsConfig, site: &str, guard: FenceGuard) -> Result<Arc<Self>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jetstream")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("nats: cannot start its runtime: {e}")))?;
        let servers: Vec<async_nats::ServerAddr> = config
            .servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| Error::input(format!("nats.servers {s:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        let replicas = config.replicas.min(config.servers.len());
        let (context, stream) = runtime.block_on(async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(5))
                .connect(servers)
                .await
                .map_err(|e| Error::input(format!("nats.servers {:?}: {e}", config.servers)))?;
            let context = jetstream::new(client);
            // A JetStream cluster that is still forming has no peers to place the stream on
            // for a moment: asked again until STREAM_READY has passed.
            let deadline = tokio::time::Instant::now() + STREAM_READY;
            let stream = loop {
                let created = context
                    .get_or_create_stream(stream::Config {
                        name: STREAM.into(),
                        subjects: vec!["vigil.>".into()],
                        num_replicas: replicas,
                        allow_direct: true,
                        duplicate_window: Duration::from_secs(120),
                        ..Default::default()
                    })
                    .await;
                match created {
                    Ok(stream) => break stream,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(Error::input(format!("nats: stream {STREAM}: {e}")))
                    }
                    Err(e) => {
                        tracing::debug!("nats: stream {STREAM} not ready yet: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            };
            Ok::<_, Error>((context, stream))
        })?;
        let (queue, mut inbox) = mpsc::channel::<Outgoing>(config.buffer);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        runtime.spawn(async move {
            while let Some(message) = inbox.recv().await {
                publish(&context, message, &guard, &lost).await;
            }
        });
        tracing::info!(servers = ?config.servers, stream = STREAM, replicas, "event log ready");
        Ok(Arc::new(Self {
            runtime,
            stream,
            queue,
            site: site.to_string(),
            dropped,
        }))
    }

    /// The subject of a camera's events.
    pub fn subject(&self, camera: &str) -> String {
        format!("vigil.{}.{camera}.events", self.site)
    }

    /// Queues a message; a full queue drops it (counted): a camera never waits for the log.
    pub fn send(&self, message: Outgoing) {
        if self.queue.try_send(message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads what the log holds for `camera`: where its sequence stands, the highest track id,
    /// and the tracks left open. Read message by message (direct get), in order.
    pub fn history(&self, camera: &str) -> Result<History> {
        let subject = self.subject(camera);
        self.runtime.block_on(async {
            let mut history = History::default();
            let mut from = 1;
            loop {
                let message = match tokio::time::timeout(
                    Duration::from_secs(5),
                    self.stream
                        .direct_get_next_for_subject(subject.clone(), Some(from)),
                )
                .await
                {
                    Ok(Ok(m)) => m,
                    Ok(Err(e)) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => {
                        break
                    }
                    Ok(Err(e)) => {
                        return Err(Error::internal(format!("nats: reading {subject}: {e}")))
                    }
                    Err(_) => {
                        return Err(Error::internal(format!(
                            "nats: reading {subject}: timed out"
                        )))
                    }
                };
                from = message.sequence + 1;
                let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
                    continue;
                };
                history.last_seq = history.last_seq.max(event["seq"].as_u64().unwrap_or(0));
                if let Some(id) = event["id"].as_u64() {
                    history.max_id = history.max_id.max(id);
                    match event["type"].as_str() {
                        Some("track_started") => {
                            history.open.insert(id, event);
                        }
                        Some("track_ended") => {
                            history.open.remove(&id);
                        }
                        _ => {}
                    }
                }
            }
            Ok(history)
        })
    }
}

/// Publishes one message until the log acknowledges it, or drops it once this instance's lease
/// may have lapsed (another owner may hold the camera now).
async fn publish(
    context: &jetstream::Context,
    message: Outgoing,
    guard: &FenceGuard,
    dropped: &AtomicU64,
) {
    let mut wait = Duration::from_millis(100);
    loop {
        if guard.gone() {
            dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !guard.holds() {
            // A renewal is late (etcd electing a leader): wait for it, or for the lease's end.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let publish = PublishMessage::build()
            .message_id(&message.id)
            .payload(message.payload.clone().into());
        let acked = match context.send_publish(message.subject.clone(), publish).await {
            Ok(ack) => tokio::time::timeout(ACK_WAIT, ack)
                .await
                .ok()
                .and_then(|r| r.ok()),
            Err(_) => None,
        };
        if acked.is_some() {
            return;
        }
        tracing::debug!(id = %message.id, "event log: not acknowledged, trying again");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}
