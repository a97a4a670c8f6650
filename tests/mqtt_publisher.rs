//! The MQTT output against a real broker (Debian's `mosquitto`, subscribed to with
//! `mosquitto_sub`), and against a scripted one where a failure must happen at an exact moment.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opencv::core::Mat;
use serde_json::Value;

use common::{free_port, scratch, wait_for};
use vigil::comms::mqtt::{MqttConfig, MqttPublisher};
use vigil::frame::{Event, EventKind, Frame, FrameMeta, Track, TrackedFrame};
use vigil::geom::BBox;
use vigil::labels::Labels;
use vigil::metrics::Metrics;
use vigil::sink::{Sink, SinkPolicy};

const WAIT: Duration = Duration::from_secs(30);

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("vigil=debug")
        .try_init();
}

/// Polls until `done` holds or `WAIT` passes.
fn eventually(done: impl FnMut() -> bool) -> bool {
    wait_for(WAIT, done)
}

fn config(port: u16) -> MqttConfig {
    MqttConfig {
        port,
        ..Default::default()
    }
}

fn track(id: u64) -> Track {
    Track {
        id,
        class_id: 0,
        score: 0.8,
        bbox: BBox::from_tlwh(10.0, 20.0, 30.0, 60.0),
        velocity: [1.0, -2.0],
        predicted: Vec::new(),
    }
}

fn event(kind: EventKind, id: u64, pts_ms: f64) -> Event {
    Event {
        kind,
        id,
        class_id: 0,
        pts_ms,
        first_pts_ms: pts_ms,
        last_pts_ms: pts_ms,
        frames_seen: 1,
        first_bbox: BBox::from_tlwh(10.0, 20.0, 30.0, 60.0),
        last_bbox: BBox::from_tlwh(10.0, 20.0, 30.0, 60.0),
        path_px: 0.0,
    }
}

fn frame(number: u64, pts_ms: f64, tracks: Vec<Track>, events: Vec<Event>) -> TrackedFrame {
    TrackedFrame {
        detections: Vec::new(),
        detected: true,
        unchanged: false,
        frame: Frame {
            meta: FrameMeta {
                seq: number - 1,
                number,
                pts_ms,
                captured_at: Instant::now(),
                camera: vigil::geom::Affine::IDENTITY,
                plan: Default::default(),
            },
            image: Mat::default(),
            slot: Default::default(),
        },
        tracks,
        events,
        scene: Default::default(),
    }
}

/// One frame carrying a `track_started` event for each id.
fn started(number: u64, ids: impl IntoIterator<Item = u64>) -> TrackedFrame {
    let pts = number as f64 * 10.0;
    let events = ids
        .into_iter()
        .map(|id| event(EventKind::TrackStarted, id, pts))
        .collect();
    frame(number, pts, Vec::new(), events)
}

/// `mosquitto` on a loopback port, with persistence in its own folder. Killed when dropped.
struct Broker {
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {dir}/\nlog_dest file {dir}/mosquitto.log\n\
             # When the tests run as root, stay root so the persistence folder stays writable.\n\
             user root\n",
            dir = dir.display()
        );
        std::fs::write(&conf, text).unwrap();
        let mut broker = Broker {
            conf,
            port,
            child: None,
        };
        broker.restart();
        broker
    }

    fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        self.child = Some(child);
        let up = eventually(|| TcpStream::connect(("127.0.0.1", self.port)).is_ok());
        assert!(up, "mosquitto did not open port {}", self.port);
    }

    /// SIGTERM, so that it saves its persistent sessions, then waits for it to exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(term.is_ok_and(|s| s.success()), "cannot signal mosquitto");
        let exited = eventually(|| child.try_wait().is_ok_and(|s| s.is_some()));
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mosquitto did not stop on SIGTERM");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `mosquitto_sub` with a persistent session (`-c`, QoS 1) on `vigil/#`: it collects what
/// arrives, across broker restarts. Killed when dropped.
struct Subscriber {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _reader: JoinHandle<()>,
}

impl Subscriber {
    /// A subscriber that has been seen to receive. A `mosquitto_sub` that never connects (seen
    /// once on a loaded CI machine: the broker never heard from it) is replaced, twice at most.
    fn start(port: u16) -> Subscriber {
        for _ in 0..3 {
            if let Some(sub) = Self::try_start(port) {
                return sub;
            }
        }
        panic!("mosquitto_sub did not subscribe (3 attempts)");
    }

    fn try_start(port: u16) -> Option<Subscriber> {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-q",
                "1",
                "-c",
                "-i",
                "vigil-test-sub",
                "-t",
                "vigil/#",
                "-v",
                "-d",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is installed");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut sub = Subscriber {
            child,
            lines,
            _reader: reader,
        };
        // Subscribed once a probe published after it comes back (its output to a pipe is
        // flushed per message, not per protocol step).
        let subscribed = wait_for(Duration::from_secs(10), || {
            let _ = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-q", "1", "-t", "vigil/probe", "-m", "{}"])
                .status();
            sub.lines().iter().any(|l| l.starts_with("vigil/probe "))
        });
        if subscribed {
            return Some(sub);
        }
        let _ = sub.child.kill();
        let _ = sub.child.wait();
        None
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Messages received on `topic`, parsed.
    fn messages(&self, topic: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(t, _)| *t == topic)
            .map(|(_, payload)| serde_json::from_str(payload).unwrap())
            .collect()
    }

    fn event_ids(&self, topic: &str) -> BTreeSet<u64> {
        self.messages(topic)
            .iter()
            .filter_map(|m| m["id"].as_u64())
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn events_and_track_snapshots_arrive_with_the_documented_schema() {
    logs();
    let dir = scratch("mqtt_schema");
    let broker = Broker::start(&dir);
    let sub = Subscriber::start(broker.port);
    let metrics = Metrics::new().unwrap();
    let publisher = MqttPublisher::start(&config(broker.port)).unwrap();
    let labels = Arc::new(Labels::numbered(3));
    let mut sink = publisher.sink("gate", labels, metrics.camera("gate"));
    assert_eq!(sink.policy(), SinkPolicy::NeverBlock);
    assert_eq!(sink.kind(), "mqtt");

    // 2.5 s of stream at 25 fps: snapshots are due at 0, 1000 and 2000 ms.
    for n in 1..=63u64 {
        let pts = (n - 1) as f64 * 40.0;
        let events = match n {
            1 => vec![event(EventKind::TrackStarted, 7, pts)],
            50 => vec![event(EventKind::TrackEnded, 7, 1000.0)],
            _ => Vec::new(),
        };
        sink.write(&frame(n, pts, vec![track(7)], events)).unwrap();
    }
    sink.finish().unwrap();

    let events_arrived = eventually(|| sub.messages("vigil/gate/events").len() >= 2);
    assert!(events_arrived, "{:?}", sub.lines());
    let events = sub.messages("vigil/gate/events");
    assert_eq!(events[0]["type"], "track_started");
    assert_eq!(events[1]["type"], "track_ended");
    for (e, pts) in events.iter().zip([0.0, 1000.0]) {
        assert_eq!(e["camera"], "gate");
        assert_eq!(e["id"], 7);
        assert_eq!(e["class"], "class0");
        assert_eq!(e["pts_ms"], pts);
        assert!(e["time"].as_f64().is_some_and(|t| t > 1.6e9), "{e}");
        assert!(
            e["first_bbox"].is_array() && e["frames_seen"].is_u64(),
            "{e}"
        );
    }

    // Snapshots are latest-only: a queued one may be replaced by a newer one, but the last is
    // always delivered and none falls between the interval's marks.
    let last_arrived = eventually(|| {
        let snaps = sub.messages("vigil/gate/tracks");
        snaps.last().is_some_and(|s| s["pts_ms"] == 2000.0)
    });
    assert!(last_arrived, "{:?}", sub.lines());
    for s in sub.messages("vigil/gate/tracks") {
        let pts = s["pts_ms"].as_f64().unwrap();
        assert!([0.0, 1000.0, 2000.0].contains(&pts), "{s}");
        assert_eq!(s["camera"], "gate");
        assert_eq!(s["frame"].as_f64().unwrap(), pts / 40.0 + 1.0);
        assert!(s["time"].is_f64(), "{s}");
        let tracks = s["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0]["id"], 7);
        assert_eq!(tracks[0]["class"], "class0");
        assert_eq!(
            tracks[0]["bbox"],
            serde_json::json!([10.0, 20.0, 30.0, 60.0])
        );
    }
    publisher.shutdown(Duration::from_secs(2));
    assert!(!publisher.connected());
}

#[test]
fn events_written_while_the_broker_is_away_arrive_once_it_is_back() {
    logs();
    let dir = scratch("mqtt_outage");
    let mut broker = Broker::start(&dir);
    let sub = Subscriber::start(broker.port);
    let metrics = Metrics::new().unwrap();
    let publisher = MqttPublisher::start(&config(broker.port)).unwrap();
    let mut sink = publisher.sink(
        "yard",
        Arc::new(Labels::numbered(1)),
        metrics.camera("yard"),
    );
    let topic = "vigil/yard/events";

    sink.write(&started(1, [1])).unwrap();
    assert!(
        eventually(|| sub.event_ids(topic).contains(&1)),
        "{:?}",
        sub.lines()
    );
    assert!(publisher.connected());

    broker.stop();
    assert!(
        eventually(|| !publisher.connected()),
        "the publisher did not notice"
    );
    let away: BTreeSet<u64> = (100..120).collect();
    for (n, id) in away.iter().enumerate() {
        sink.write(&started(n as u64 + 2, [*id])).unwrap();
    }
    broker.restart();

    assert!(
        eventually(|| publisher.connected()),
        "the publisher did not reconnect"
    );
    let all_arrived = eventually(|| sub.event_ids(topic).is_superset(&away));
    let missing: Vec<_> = away.difference(&sub.event_ids(topic)).copied().collect();
    assert!(all_arrived, "lost while the broker was away: {missing:?}");
    publisher.shutdown(Duration::from_secs(2));
    let text = metrics.encode();
    assert!(!text.contains("vigil_events_dropped_total{"), "{text}");
}

#[test]
fn overflow_while_the_broker_is_away_is_counted() {
    logs();
    let metrics = Metrics::new().unwrap();
    let nobody = free_port();
    let publisher = MqttPublisher::start(&MqttConfig {
        buffer: 3,
        ..config(nobody)
    })
    .expect("an absent broker is not an error");
    let mut sink = publisher.sink("x", Arc::new(Labels::numbered(1)), metrics.camera("x"));
    for n in 1..=10 {
        sink.write(&started(n, [n])).unwrap();
    }
    let dropped = |n: u64| format!("vigil_events_dropped_total{{camera=\"x\",sink=\"mqtt\"}} {n}");
    // Ten events and one snapshot into three places: the snapshot goes first, then the seven
    // oldest events make room for the newest.
    let text = metrics.encode();
    assert!(text.contains(&dropped(8)), "{text}");
    assert!(!publisher.connected());
    let started = Instant::now();
    publisher.shutdown(Duration::from_millis(300));
    // Gives up after its 300 ms rather than wait for a broker that is not there: a minute is
    // far beyond any load's delay, and far short of waiting for ever.
    assert!(started.elapsed() < Duration::from_secs(60));
    // What was still queued when shutdown gave up is lost too, and counted.
    let text = metrics.encode();
    assert!(text.contains(&dropped(11)), "{text}");
    assert!(
        text.contains("vigil_sink_errors_total{camera=\"x\",sink=\"mqtt\"} 1"),
        "the broker's absence is one error until it is reached: {text}"
    );
}

/// One MQTT packet: its first byte and its body.
fn read_packet(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut byte = [0u8; 1];
    s.read_exact(&mut byte)?;
    let kind = byte[0];
    let (mut len, mut shift) = (0usize, 0);
    loop {
        s.read_exact(&mut byte)?;
        len |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body)?;
    Ok((kind, body))
}

/// A PUBLISH's topic, packet id (QoS 1) and payload.
fn parse_publish(kind: u8, body: &[u8]) -> (String, Option<[u8; 2]>, Value) {
    let n = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let topic = String::from_utf8_lossy(&body[2..2 + n]).into_owned();
    let (pkid, rest) = if (kind >> 1) & 3 > 0 {
        (Some([body[2 + n], body[3 + n]]), &body[4 + n..])
    } else {
        (None, &body[2 + n..])
    };
    (
        topic,
        pkid,
        serde_json::from_slice(rest).unwrap_or(Value::Null),
    )
}

/// Serves one connection: answers CONNECT and pings, acknowledges publishes when `ack`, and
/// sends each event id it receives as `(connection, id)`. Returns after `hold` events when not
/// acknowledging (closing the connection on them), else at DISCONNECT or end of stream.
fn serve(
    mut s: TcpStream,
    connection: u32,
    ack: bool,
    hold: usize,
    seen: &mpsc::Sender<(u32, u64)>,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(WAIT))?;
    let mut held = 0;
    loop {
        let (kind, body) = read_packet(&mut s)?;
        match kind >> 4 {
            1 => s.write_all(&[0x20, 2, 0, 0])?, // CONNACK, no session present
            12 => s.write_all(&[0xd0, 0])?,      // PINGRESP
            14 => return Ok(()),                 // DISCONNECT
            3 => {
                let (topic, pkid, payload) = parse_publish(kind, &body);
                if let (true, Some([hi, lo])) = (ack, pkid) {
                    s.write_all(&[0x40, 2, hi, lo])?;
                }
                if topic.ends_with("/events") {
                    let _ = seen.send((connection, payload["id"].as_u64().unwrap_or(0)));
                    held += 1;
                    if !ack && held == hold {
                        return Ok(()); // closes the connection with every publish unacknowledged
                    }
                }
            }
            _ => {}
        }
    }
}

/// A scripted broker: the first connection never acknowledges and is closed once `hold` events
/// are in flight; the second acknowledges everything and says no session is present.
fn scripted_broker(hold: usize) -> (u16, mpsc::Receiver<(u32, u64)>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        for (connection, ack) in [(1, false), (2, true)] {
            let Ok((s, _)) = listener.accept() else {
                return;
            };
            let _ = serve(s, connection, ack, hold, &tx);
        }
    });
    (port, rx, thread)
}

#[test]
fn publishes_in_flight_when_the_connection_breaks_are_sent_again() {
    logs();
    let (port, seen, broker) = scripted_broker(5);
    let metrics = Metrics::new().unwrap();
    let publisher = MqttPublisher::start(&config(port)).unwrap();
    let mut sink = publisher.sink(
        "door",
        Arc::new(Labels::numbered(1)),
        metrics.camera("door"),
    );
    sink.write(&started(1, 1..=5)).unwrap();

    let ids_on = |received: &[(u32, u64)], connection: u32| -> Vec<u64> {
        received
            .iter()
            .filter(|(c, _)| *c == connection)
            .map(|(_, id)| *id)
            .collect()
    };
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    let all: BTreeSet<u64> = (1..=5).collect();
    while BTreeSet::from_iter(ids_on(&received, 2)) != all {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(r) => received.push(r),
            Err(_) => panic!("not all re-sent after the reconnection: {received:?}"),
        }
    }
    assert_eq!(
        ids_on(&received, 1),
        [1, 2, 3, 4, 5],
        "all five were in flight on the first connection"
    );
    assert!(publisher.connected());
    publisher.shutdown(Duration::from_secs(2));
    broker.join().unwrap();
}
