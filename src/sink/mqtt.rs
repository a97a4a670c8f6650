//! MQTT output: each camera's events and periodic track snapshots, published at QoS 1 over one
//! broker connection for the whole process.
//!
//! The pipeline never waits for the network: a sink's `write` only queues messages in a bounded
//! buffer shared by all cameras, and one thread (`mqtt`) moves them to the broker, reconnecting
//! forever with backoff. Delivery is at least once: a message leaves the buffer only when it is
//! handed to the MQTT client, and the client's un-acknowledged publishes are kept across a
//! reconnection and sent again (see `Io::on_failure`), whatever session the broker kept.
//!
//! Topics: `{prefix}/{camera}/events` (one `EventRecord` each) and `{prefix}/{camera}/tracks`
//! (the latest frame's tracks, at most every `tracks_interval_s` of stream time).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, ConnectionError, Event, MqttOptions, NetworkOptions, Outgoing, Packet,
    Publish, QoS, RecvTimeoutError, Request,
};
use serde::{Deserialize, Serialize};

use super::payload::{round_ms, unix_time_s, AnyEventRecord, TrackRecord};
use super::{Sink, SinkPolicy};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::frame::{Event as TrackEvent, StreamEnd, TrackedFrame};
use crate::labels::Labels;
use crate::metrics::CameraMetrics;
use crate::scene::SceneFrame;

/// Publishes handed to the MQTT client and not yet acknowledged, at most (rumqttc's window).
const INFLIGHT: u16 = 32;
/// Largest packet we send. A bigger message is dropped when queued: sent, it would fail the
/// connection, be re-sent after the reconnection, and fail it again, forever.
const MAX_PACKET_BYTES: usize = 1 << 20;
/// How often an idle connection looks for newly queued messages.
const IDLE_POLL: Duration = Duration::from_millis(20);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Seconds a TCP connect and CONNACK may take.
const CONNECT_TIMEOUT_S: u64 = 5;
/// Time given to the DISCONNECT packet once delivery is over.
const DISCONNECT_WAIT: Duration = Duration::from_millis(250);

/// The `[mqtt]` section of the daemon's configuration.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Topics are `{topic_prefix}/{camera}/events` and `{topic_prefix}/{camera}/tracks`.
    pub topic_prefix: String,
    /// Empty: `vigil-<pid>`.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Stream seconds between two track snapshots of one camera.
    pub tracks_interval_s: f64,
    /// Messages queued while the broker is slow or away, all cameras together.
    pub buffer: usize,
    /// Seconds between pings; a broker silent for two of them is taken as gone.
    pub keep_alive_s: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            topic_prefix: "vigil".into(),
            client_id: String::new(),
            username: None,
            password: None,
            tracks_interval_s: 1.0,
            buffer: 1000,
            keep_alive_s: 15,
        }
    }
}

/// By hand, so that printing a configuration never shows the password.
impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("topic_prefix", &self.topic_prefix)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tracks_interval_s", &self.tracks_interval_s)
            .field("buffer", &self.buffer)
            .field("keep_alive_s", &self.keep_alive_s)
            .finish()
    }
}

impl MqttConfig {
    /// Checks values; the error names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("mqtt.host must not be empty".into());
        }
        if self.port == 0 {
            return Err("mqtt.port = 0 is not a port (1 to 65535)".into());
        }
        let prefix = &self.topic_prefix;
        if prefix.is_empty() || prefix.contains(['#', '+', '\0']) {
            return Err(format!(
                "mqtt.topic_prefix = '{prefix}' must be a non-empty topic without '#' or '+'"
            ));
        }
        let interval = self.tracks_interval_s;
        if !(interval.is_finite() && interval > 0.0) {
            return Err(format!(
                "mqtt.tracks_interval_s = {interval} must be a positive number of seconds"
            ));
        }
        if self.buffer == 0 {
            return Err("mqtt.buffer = 0 must be at least 1 message".into());
        }
        // Pings are how a silently dead broker is noticed, so they cannot be turned off.
        if !(1..=u64::from(u16::MAX)).contains(&self.keep_alive_s) {
            return Err(format!(
                "mqtt.keep_alive_s = {} must be within [1, 65535]",
                self.keep_alive_s
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(
                "mqtt.password is set without mqtt.username (MQTT 3.1.1 needs both)".into(),
            );
        }
        Ok(())
    }

    fn client_id(&self) -> String {
        if self.client_id.is_empty() {
            format!("vigil-{}", std::process::id())
        } else {
            self.client_id.clone()
        }
    }

    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(self.client_id(), self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(self.keep_alive_s))
            // We subscribe to nothing and re-send our own un-acknowledged publishes, so the
            // broker need keep no session; a persistent one per `vigil-<pid>` would pile up.
            .set_clean_session(true)
            .set_inflight(INFLIGHT)
            // Incoming packets are acknowledgements and pings only.
            .set_max_packet_size(64 * 1024, MAX_PACKET_BYTES);
        if let Some(user) = &self.username {
            o.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        o
    }
}

/// The process's one connection to the broker, shared by every camera's [`MqttSink`].
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
        let (client, mut connection) = Client::new(config.options(), 4);
        let mut network = NetworkOptions::new();
        // Small messages answered by small acks: Nagle's delay would only add latency.
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(CONNECT_TIMEOUT_S);
        connection.eventloop.set_network_options(network);
        let io = Io {
            shared: shared.clone(),
            client,
            connection,
            endpoint: format!("{}:{}", config.host, config.port),
            client_id: config.client_id(),
            replay: VecDeque::new(),
            connected: false,
            failures: 0,
            backoff: broker_backoff(),
        };
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || io.run())
            .map_err(|e| Error::internal(format!("cannot start the MQTT thread: {e}")))?;
        Ok(Arc::new(MqttPublisher {
            shared,
            config: config.clone(),
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// The output of one camera.
    pub fn sink(
        self: &Arc<Self>,
        camera: &str,
        labels: Arc<Labels>,
        metrics: CameraMetrics,
    ) -> MqttSink {
        let origin = Arc::new(Origin {
            camera: camera.to_string(),
            metrics,
        });
        self.shared.register(&origin);
        let prefix = format!("{}/{}", self.config.topic_prefix, topic_level(camera));
        MqttSink {
            publisher: self.clone(),
            origin,
            labels,
            events_topic: format!("{prefix}/events"),
            tracks_topic: format!("{prefix}/tracks"),
            tracks_interval_ms: self.config.tracks_interval_s * 1000.0,
            last_snapshot_ms: None,
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

/// The output of one camera: queues its events and track snapshots for the publisher.
pub struct MqttSink {
    publisher: Arc<MqttPublisher>,
    origin: Arc<Origin>,
    labels: Arc<Labels>,
    events_topic: String,
    tracks_topic: String,
    tracks_interval_ms: f64,
    last_snapshot_ms: Option<f64>,
    warned_oversize: bool,
}

/// The payload of `{prefix}/{camera}/tracks`.
#[derive(Serialize)]
struct SnapshotRecord<'a> {
    camera: &'a str,
    frame: u64,
    pts_ms: f64,
    time: f64,
    tracks: Vec<TrackRecord<'a>>,
}

impl MqttSink {
    /// True when a snapshot is due on a frame at `pts_ms`; it is then taken as sent.
    fn snapshot_due(&mut self, pts_ms: f64) -> bool {
        let due = match self.last_snapshot_ms {
            None => true,
            // Time going backwards means the stream restarted: start the cadence again.
            Some(last) => pts_ms - last >= self.tracks_interval_ms || pts_ms < last,
        };
        if due {
            self.last_snapshot_ms = Some(pts_ms);
        }
        due
    }

    fn queue(&mut self, payload: Vec<u8>, snapshot: bool) {
        let topic = if snapshot {
            &self.tracks_topic
        } else {
            &self.events_topic
        };
        if topic.len() + payload.len() + 16 > MAX_PACKET_BYTES {
            self.oversize(payload.len());
            return;
        }
        let message = Message {
            topic: topic.clone(),
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

impl MqttSink {
    fn event_payloads(&self, events: &[TrackEvent], scene: &SceneFrame) -> Result<Vec<Vec<u8>>> {
        let camera = self.origin.camera.as_str();
        AnyEventRecord::all(events, scene, &self.labels, Some(camera))
            .iter()
            .map(serde_json::to_vec)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::internal(format!("MQTT payload: {e}")))
    }
}

impl Sink for MqttSink {
    fn describe(&self) -> String {
        let c = &self.publisher.config;
        format!("MQTT {}:{} '{}'", c.host, c.port, self.events_topic)
    }

    fn kind(&self) -> &'static str {
        "mqtt"
    }

    fn policy(&self) -> SinkPolicy {
        SinkPolicy::NeverBlock
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let snapshot_due = self.snapshot_due(f.frame.meta.pts_ms);
        let camera = self.origin.camera.as_str();
        let json = |e: serde_json::Error| Error::internal(format!("MQTT payload: {e}"));
        let events = self.event_payloads(&f.events, &f.scene)?;
        let snapshot = if snapshot_due {
            let record = SnapshotRecord {
                camera,
                frame: f.frame.meta.number,
                pts_ms: round_ms(f.frame.meta.pts_ms),
                time: unix_time_s(),
                tracks: TrackRecord::all(&f.tracks, &f.scene, &self.labels),
            };
            Some(serde_json::to_vec(&record).map_err(json)?)
        } else {
            None
        };
        for payload in events {
            self.queue(payload, false);
        }
        if let Some(payload) = snapshot {
            self.queue(payload, true);
        }
        Ok(())
    }

    /// Tracks ended between frames: their `track_ended` and `zone_exit` events.
    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        for payload in self.event_payloads(&end.events, &end.scene)? {
            self.queue(payload, false);
        }
        Ok(())
    }

    /// Nothing to flush here: the publisher delivers the queue at its `shutdown`.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A camera name as one topic level: the MQTT separator and wildcards would change the topic's
/// meaning (and a wildcard in a PUBLISH makes the broker drop the connection).
fn topic_level(camera: &str) -> String {
    let level: String = camera
        .chars()
        .map(|c| {
            if matches!(c, '/' | '#' | '+' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if level.is_empty() {
        "_".into()
    } else {
        level
    }
}

/// Who queued a message: its drops are counted against that camera.
struct Origin {
    camera: String,
    metrics: CameraMetrics,
}

impl Origin {
    fn report(&self, message: &str) {
        self.metrics.sink_error("mqtt");
        self.metrics.health.report_error(message);
    }
}

struct Message {
    topic: String,
    payload: Vec<u8>,
    /// A track snapshot: only the latest of a camera is worth sending.
    snapshot: bool,
    origin: Arc<Origin>,
}

impl Message {
    fn drop_counted(self) {
        self.origin.metrics.events_dropped("mqtt", 1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Running,
    /// Deliver what is queued until this instant, then disconnect.
    Drain(Instant),
    /// Disconnect at once.
    Now,
}

/// The queue between the sinks and the connection thread.
struct Outbox {
    queue: VecDeque<Message>,
    capacity: usize,
    stop: Stop,
    /// The connection thread has stopped.
    finished: bool,
    /// Overflow has been logged since the queue last emptied.
    warned: bool,
}

impl Outbox {
    fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity,
            stop: Stop::Running,
            finished: false,
            warned: false,
        }
    }

    /// Queues a message; returns the one that had to go to keep within the bound, if any.
    ///
    /// A newer snapshot replaces its camera's queued one (not counted: nothing of the present
    /// is lost). When full, the oldest snapshot goes first, since a newer one will follow; with
    /// none queued, a new snapshot is refused rather than push out an event; otherwise the oldest
    /// event goes.
    fn push(&mut self, message: Message) -> Option<Message> {
        if message.snapshot {
            let stale = self
                .queue
                .iter()
                .position(|m| m.snapshot && Arc::ptr_eq(&m.origin, &message.origin));
            if let Some(i) = stale {
                self.queue.remove(i);
                self.queue.push_back(message);
                return None;
            }
        }
        if self.queue.len() < self.capacity {
            self.queue.push_back(message);
            return None;
        }
        let victim = match self.queue.iter().position(|m| m.snapshot) {
            Some(i) => self.queue.remove(i),
            None if message.snapshot => return Some(message),
            None => self.queue.pop_front(),
        };
        self.queue.push_back(message);
        victim
    }

    fn pop(&mut self) -> Option<Message> {
        let message = self.queue.pop_front();
        if self.queue.is_empty() {
            self.warned = false;
        }
        message
    }
}

/// What the sinks, the publisher handle and the connection thread share.
struct Shared {
    outbox: Mutex<Outbox>,
    /// Wakes the thread from a backoff when asked to stop, and `shutdown` when the thread is done.
    signal: Condvar,
    connected: AtomicBool,
    /// Every camera's sink, to report the connection's troubles in each camera's health.
    origins: Mutex<Origins>,
}

#[derive(Default)]
struct Origins {
    live: Vec<Weak<Origin>>,
    /// Why the broker cannot be reached, while it cannot: told to sinks created meanwhile too.
    trouble: Option<String>,
}

impl Shared {
    fn new(capacity: usize) -> Self {
        Self {
            outbox: Mutex::new(Outbox::new(capacity)),
            signal: Condvar::new(),
            connected: AtomicBool::new(false),
            origins: Mutex::new(Origins::default()),
        }
    }

    fn push(&self, message: Message) {
        let mut o = lock(&self.outbox);
        if o.finished {
            drop(o);
            message.drop_counted();
            return;
        }
        let Some(dropped) = o.push(message) else {
            return;
        };
        let first = !o.warned;
        o.warned = true;
        let capacity = o.capacity;
        drop(o);
        if first {
            tracing::warn!(
                camera = dropped.origin.camera,
                "MQTT: {capacity} messages queued; dropping the oldest until the broker catches up"
            );
        }
        dropped.drop_counted();
    }

    fn pop(&self) -> Option<Message> {
        lock(&self.outbox).pop()
    }

    /// Ends the queue: what is left is counted as dropped. Returns how many.
    fn close(&self) -> usize {
        let left: Vec<Message> = {
            let mut o = lock(&self.outbox);
            o.finished = true;
            self.signal.notify_all();
            o.queue.drain(..).collect()
        };
        let n = left.len();
        left.into_iter().for_each(Message::drop_counted);
        n
    }

    fn register(&self, origin: &Arc<Origin>) {
        let mut origins = lock(&self.origins);
        origins.live.retain(|w| w.strong_count() > 0);
        origins.live.push(Arc::downgrade(origin));
        if let Some(message) = &origins.trouble {
            origin.report(message);
        }
    }

    /// Tells every camera, once per outage, that the broker is unreachable (`None`: reached).
    fn set_trouble(&self, trouble: Option<String>) {
        let mut origins = lock(&self.origins);
        if let Some(message) = &trouble {
            for origin in origins.live.iter().filter_map(Weak::upgrade) {
                origin.report(message);
            }
        }
        origins.trouble = trouble;
    }
}

/// The waits between connection attempts: doubling from 0.5 s to 10 s, plus up to 25 % so that
/// many processes that lost the same broker do not all come back in the same instant.
fn broker_backoff() -> Backoff {
    Backoff::new(BACKOFF_MIN, BACKOFF_MAX, 1.0..=1.25)
}

/// The connection thread: feeds queued messages to rumqttc and drives its event loop.
struct Io {
    shared: Arc<Shared>,
    /// Unused for publishing (messages go straight into the event loop's pending list) but it
    /// keeps the request channel open, and sends the final DISCONNECT.
    client: Client,
    connection: Connection,
    endpoint: String,
    client_id: String,
    /// Publishes that were in flight when the connection broke, held until the next CONNACK.
    replay: VecDeque<Request>,
    connected: bool,
    /// Failed attempts since the last success: only the first of a run is logged.
    failures: u32,
    backoff: Backoff,
}

impl Io {
    fn run(mut self) {
        while !self.should_stop() {
            if self.connected {
                self.feed();
                self.poll();
            } else {
                self.connect();
            }
        }
        self.finish();
    }

    fn should_stop(&self) -> bool {
        let o = lock(&self.shared.outbox);
        match o.stop {
            Stop::Running => false,
            Stop::Now => true,
            Stop::Drain(deadline) => {
                Instant::now() >= deadline || (o.queue.is_empty() && self.nothing_in_flight())
            }
        }
    }

    fn nothing_in_flight(&self) -> bool {
        let el = &self.connection.eventloop;
        self.replay.is_empty()
            && el.pending.is_empty()
            && el.state.inflight() == 0
            && el.state.collision.is_none()
    }

    /// One attempt; rumqttc bounds it by its connection timeout.
    fn connect(&mut self) {
        match self.connection.recv() {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => self.on_connected(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.on_failure(e),
            // Only when every client handle is gone, and this thread holds one.
            Err(_) => self.pause(BACKOFF_MIN),
        }
    }

    fn on_connected(&mut self) {
        self.connected = true;
        self.shared.connected.store(true, Ordering::Relaxed);
        self.failures = 0;
        self.backoff.reset();
        self.shared.set_trouble(None);
        // rumqttc empties its pending list when the broker has no session for us (always, with
        // a clean session), so the publishes it had in flight were set aside in `on_failure`;
        // they go back to the front, sent before anything new (duplicates are allowed at QoS 1).
        let pending = &mut self.connection.eventloop.pending;
        let newer = std::mem::take(pending);
        pending.extend(self.replay.drain(..));
        pending.extend(newer);
        tracing::info!(
            "MQTT: connected to {} as '{}'{}",
            self.endpoint,
            self.client_id,
            match pending.len() {
                0 => String::new(),
                n => format!("; re-sending {n} unacknowledged messages"),
            }
        );
    }

    fn on_failure(&mut self, e: ConnectionError) {
        // On a broken connection rumqttc moves its un-acknowledged publishes (and requests not
        // yet read) to its pending list, which the next CONNACK would discard: keep them.
        let pending = std::mem::take(&mut self.connection.eventloop.pending);
        self.replay.extend(
            pending
                .into_iter()
                .filter(|r| matches!(r, Request::Publish(_))),
        );
        let message = if self.connected {
            self.connected = false;
            self.shared.connected.store(false, Ordering::Relaxed);
            format!("MQTT: connection to {} lost: {e}", self.endpoint)
        } else {
            format!("MQTT: cannot connect to {}: {e}", self.endpoint)
        };
        if self.failures == 0 {
            tracing::warn!("{message}; retrying with backoff");
            self.shared.set_trouble(Some(message));
        } else {
            tracing::debug!("{message}");
        }
        self.failures += 1;
        let wait = self.backoff.next_wait(&mut rand::thread_rng());
        self.pause(wait);
    }

    /// Hands the next queued message to rumqttc: one at a time, only into a free in-flight slot
    /// and only once its pending list is empty, because rumqttc serves that list ahead of its
    /// own flow control, and a second packet-id collision would overwrite the first.
    fn feed(&mut self) {
        let el = &mut self.connection.eventloop;
        if !el.pending.is_empty() || el.state.collision.is_some() || el.state.inflight() >= INFLIGHT
        {
            return;
        }
        if let Some(m) = self.shared.pop() {
            let publish = Publish::new(m.topic, QoS::AtLeastOnce, m.payload);
            el.pending.push_back(Request::Publish(publish));
        }
    }

    fn poll(&mut self) {
        let el = &self.connection.eventloop;
        let busy = !el.pending.is_empty() || el.state.inflight() > 0;
        let event = if busy {
            // A packet is to be written or an ack is due (or the keep-alive fails): wait for it
            // whole, since abandoning a poll midway could lose a packet being written.
            self.connection
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            // Idle: come back regularly for new messages; an idle poll loses nothing if cut.
            self.connection.recv_timeout(IDLE_POLL)
        };
        match event {
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => self.on_failure(e),
            Err(RecvTimeoutError::Disconnected) => self.pause(IDLE_POLL),
        }
    }

    /// Sleeps, waking early when asked to stop, never past a drain deadline.
    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut o = lock(&self.shared.outbox);
        let stop = o.stop;
        loop {
            let limit = match o.stop {
                Stop::Drain(deadline) => until.min(deadline),
                _ => until,
            };
            let now = Instant::now();
            if now >= limit || o.stop != stop {
                return;
            }
            o = wait_on(&self.shared.signal, o, limit - now);
        }
    }

    fn finish(mut self) {
        if self.connected {
            self.disconnect();
        }
        let unsent = self.shared.close();
        let el = &self.connection.eventloop;
        let unacked = self.replay.len() + el.pending.len() + usize::from(el.state.inflight());
        if unsent + unacked > 0 {
            tracing::warn!(
                "MQTT: stopping with {unsent} messages unsent (counted as dropped) and {unacked} \
                 not acknowledged"
            );
        }
        self.shared.connected.store(false, Ordering::Relaxed);
    }

    /// A clean DISCONNECT, so the broker logs a goodbye rather than a dropped connection.
    fn disconnect(&mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        let until = Instant::now() + DISCONNECT_WAIT;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.connection.recv_timeout(left) {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
        }
        tracing::info!("MQTT: disconnected from {}", self.endpoint);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wait_on<'a, T>(c: &Condvar, g: MutexGuard<'a, T>, d: Duration) -> MutexGuard<'a, T> {
    c.wait_timeout(g, d).unwrap_or_else(|p| p.into_inner()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn origin(name: &str, metrics: &Metrics) -> Arc<Origin> {
        Arc::new(Origin {
            camera: name.into(),
            metrics: metrics.camera(name),
        })
    }

    fn message(origin: &Arc<Origin>, topic: &str, snapshot: bool) -> Message {
        Message {
            topic: topic.into(),
            payload: Vec::new(),
            snapshot,
            origin: origin.clone(),
        }
    }

    fn topics(o: &Outbox) -> Vec<&str> {
        o.queue.iter().map(|m| m.topic.as_str()).collect()
    }

    #[test]
    fn a_newer_snapshot_replaces_its_cameras_queued_one() {
        let m = Metrics::new().unwrap();
        let (a, b) = (origin("a", &m), origin("b", &m));
        let mut o = Outbox::new(10);
        assert!(o.push(message(&a, "a1", true)).is_none());
        assert!(o.push(message(&b, "b1", true)).is_none());
        assert!(o.push(message(&a, "e", false)).is_none());
        assert!(o.push(message(&a, "a2", true)).is_none());
        assert_eq!(topics(&o), ["b1", "e", "a2"]);
    }

    #[test]
    fn when_full_snapshots_go_before_events_and_events_oldest_first() {
        let m = Metrics::new().unwrap();
        let (a, b) = (origin("a", &m), origin("b", &m));
        let mut o = Outbox::new(3);
        o.push(message(&a, "e1", false));
        o.push(message(&b, "snap", true));
        o.push(message(&a, "e2", false));
        assert_eq!(o.push(message(&a, "e3", false)).unwrap().topic, "snap");
        assert_eq!(o.push(message(&a, "e4", false)).unwrap().topic, "e1");
        // A snapshot never pushes out an event: it is refused instead.
        assert_eq!(o.push(message(&a, "snap2", true)).unwrap().topic, "snap2");
        assert_eq!(topics(&o), ["e2", "e3", "e4"]);
    }

    #[test]
    fn validation_names_the_key() {
        let bad = [
            MqttConfig {
                port: 0,
                ..Default::default()
            },
            MqttConfig {
                tracks_interval_s: 0.0,
                ..Default::default()
            },
            MqttConfig {
                buffer: 0,
                ..Default::default()
            },
            MqttConfig {
                topic_prefix: "site/#".into(),
                ..Default::default()
            },
        ];
        let keys = [
            "mqtt.port",
            "mqtt.tracks_interval_s",
            "mqtt.buffer",
            "mqtt.topic_prefix",
        ];
        for (config, key) in bad.iter().zip(keys) {
            let err = config.validate().unwrap_err();
            assert!(err.starts_with(key), "{err}");
        }
        assert!(MqttConfig::default().validate().is_ok());
        let with_password = MqttConfig {
            username: Some("u".into()),
            password: Some("secret".into()),
            ..Default::default()
        };
        assert!(!format!("{with_password:?}").contains("secret"));
    }

    #[test]
    fn reconnections_wait_from_half_a_second_doubling_to_ten_plus_up_to_a_quarter() {
        let mut b = broker_backoff();
        let mut rng = rand::thread_rng();
        for limit in [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0] {
            let w = b.next_wait(&mut rng).as_secs_f64();
            assert!(w >= limit && w <= limit * 1.25 + 1e-9, "{w} vs {limit}");
        }
        b.reset();
        assert!(b.next_wait(&mut rng).as_secs_f64() <= 0.625 + 1e-9);
    }

    #[test]
    fn camera_names_cannot_change_the_topic_structure() {
        assert_eq!(topic_level("gate/1#+"), "gate_1__");
        assert_eq!(topic_level(""), "_");
    }
}
