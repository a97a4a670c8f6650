//! Cluster mode as a site runs it: three `vigil serve` instances sharing six cameras through a
//! 3-member etcd cluster, with a 3-node NATS JetStream cluster as the event log and GStreamer's
//! RTSP server as the cameras, all on loopback. Cameras are spread evenly and never stream at
//! two instances; a killed instance's cameras stream elsewhere within seconds, with track ids
//! above every earlier one and an event log without gaps; bad set-ups are refused in one line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{etcd, journal, nats, Etcd, Nats};
use common::{free_port, rtsp_server, scratch, signal, stderr, vigil, wait_for, Background};

const PATIENCE: Duration = Duration::from_secs(120);
const CAMERAS: usize = 6;

/// Each test runs a whole site (nine servers and three daemons): one at a time, so their
/// timings are their own, not a contest for the machine's two cores.
static ONE_SITE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_site() -> std::sync::MutexGuard<'static, ()> {
    ONE_SITE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or_default();
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        raw.split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string(),
    )
}

/// The cameras streaming at the instance on `port` (none while it does not answer).
fn streaming(port: u16) -> BTreeSet<String> {
    let (status, body) = request(port, "GET", "/healthz", None);
    if status != 200 {
        return BTreeSet::new();
    }
    let health: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    health["cameras"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["state"] == "streaming")
        .map(|(name, _)| name.clone())
        .collect()
}

struct Site {
    dir: std::path::PathBuf,
    etcd: Vec<String>,
    nats: Vec<String>,
    rtsp_port: u16,
}

impl Site {
    fn config(&self, instance: &str, http_port: u16, extra: &str) -> String {
        let list = |v: &[String]| {
            v.iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "[cluster]\netcd = [{}]\nsite = \"lab\"\ninstance = \"{instance}\"\ncapacity = 3\nlease_s = 3\n{extra}\n[nats]\nservers = [{}]\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[record]\ndir = \"{}\"\n[source]\nmax_fps = 5\n{ANALYTICS}",
            list(&self.etcd),
            list(&self.nats),
            self.dir.join(format!("rec-{instance}")).display()
        );
        for c in 1..=CAMERAS {
            text += &format!(
                "[cameras.cam{c}]\nurl = \"rtsp://127.0.0.1:{}/cam\"\n",
                self.rtsp_port
            );
        }
        text
    }

    fn start(&self, instance: &str, http_port: u16) -> Background {
        self.start_with(instance, &self.config(instance, http_port, ""))
    }

    /// An instance with this config text, its log in DIR/INSTANCE.log.
    fn start_with(&self, instance: &str, text: &str) -> Background {
        let path = self.dir.join(format!("{instance}.toml"));
        std::fs::write(&path, text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("{instance}.log"))).unwrap())
            .spawn()
            .unwrap();
        Background(child)
    }
}

/// A site of three etcd members, three JetStream nodes and the RTSP server, in a fresh folder.
fn three_node_site(name: &str) -> (Site, Etcd, Nats, Background) {
    let dir = scratch(name);
    let etcd = etcd(&dir, 3);
    let nats = nats(&dir, 3);
    let rtsp_port = free_port();
    let rtsp = rtsp_server(rtsp_port, "", "");
    let site = Site {
        dir,
        etcd: etcd.clients.clone(),
        nats: nats.clients.clone(),
        rtsp_port,
    };
    (site, etcd, nats, rtsp)
}

/// A counting line across vtest's street where people cross in its first seconds, and a zone over its left half, for every
/// camera: the counts and visits a new owner must go on with.
const ANALYTICS: &str = "[[analytics.lines]]\nname = \"middle\"\npoints = [[560, 0], [560, 576]]\n[[analytics.zones]]\nname = \"left\"\npoints = [[0, 0], [560, 0], [560, 576], [0, 576]]\n";

/// Crossings of every line, both ways, in a recorded frame or a carried state's line totals.
fn crossings(lines: &serde_json::Value) -> u64 {
    let each =
        |v: &serde_json::Value| v["in"].as_u64().unwrap_or(0) + v["out"].as_u64().unwrap_or(0);
    match lines {
        serde_json::Value::Object(by_line) => by_line.values().map(each).sum(),
        serde_json::Value::Array(carried) => carried
            .iter()
            .flat_map(|l| l["totals"].as_array().cloned().unwrap_or_default())
            .map(|c| each(&c))
            .sum(),
        _ => 0,
    }
}

/// Which instance streams each camera, by instance port.
fn owners(ports: &[(&str, u16)]) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, port) in ports {
        for camera in streaming(*port) {
            seen.entry(camera).or_default().push(name.to_string());
        }
    }
    seen
}

#[test]
fn six_cameras_are_shared_by_three_instances_and_move_when_one_dies() {
    let _site = one_site();
    let (site, etcd, nats, _rtsp) = three_node_site("cluster_site");
    let dir = site.dir.clone();
    let ports = [("a", free_port()), ("b", free_port()), ("c", free_port())];
    let started = Instant::now();
    let mut instances: Vec<Background> = ports.iter().map(|(n, p)| site.start(n, *p)).collect();
    let log =
        |name: &str| std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();

    // Assignment: every camera streaming at exactly one instance, two each.
    let even = wait_for(PATIENCE, || {
        let seen = owners(&ports);
        seen.len() == CAMERAS && seen.values().all(|o| o.len() == 1)
    });
    assert!(even, "{:?}\n{}", owners(&ports), log("a"));
    // Two each: the site's view settles a round after the last camera is taken.
    let two_each = || {
        let (_, body) = request(ports[1].1, "GET", "/api/cluster", None);
        let cluster: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        ports.iter().all(|(name, _)| {
            cluster["instances"][name]["cameras"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        })
    };
    assert!(
        wait_for(PATIENCE, two_each),
        "{}",
        request(ports[1].1, "GET", "/api/cluster", None).1
    );
    let assigned_s = started.elapsed().as_secs_f64();
    eprintln!("all {CAMERAS} cameras streaming, two per instance, {assigned_s:.1} s after start");
    // Sampled at 2 Hz for 5 s: no camera at two instances in two consecutive samples.
    let mut previous: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..10 {
        let now = owners(&ports);
        for (camera, at) in &now {
            if at.len() > 1 {
                assert!(
                    previous.get(camera).is_none_or(|p| p.len() < 2),
                    "{camera} streamed at {at:?} in two samples running"
                );
            }
        }
        previous = now;
        std::thread::sleep(Duration::from_millis(500));
    }

    // kill -9 of an instance: its cameras stream elsewhere, with ids above every earlier one.
    let victim_cameras = streaming(ports[0].1);
    assert_eq!(victim_cameras.len(), 2);
    // Each camera's state is in etcd, written at least once a second, with its counts.
    let state = |c: &String| common::cluster::etcd_value(&etcd, &format!("/vigil/lab/state/{c}"));
    let counted = || {
        victim_cameras
            .iter()
            .filter_map(state)
            .map(|s| crossings(&s["analytics"]["lines"]))
            .sum::<u64>()
    };
    assert!(
        wait_for(Duration::from_secs(60), || counted() > 0),
        "no crossing counted at a"
    );
    // Sampled every 0.5 s for 2.5 s: a new state each second or so, never old.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut ages = Vec::new();
    for _ in 0..6 {
        for c in &victim_cameras {
            let at = state(c).and_then(|s| s["at"].as_f64()).unwrap_or(0.0);
            written.insert(format!("{c} {at}"));
            ages.push(now() - at);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("state ages when sampled: {ages:.2?}");
    assert!(written.len() >= 2 * 3, "too few writes: {written:?}");
    assert!(ages.iter().all(|a| *a < 2.5), "a stale state: {ages:?}");
    let carried: Vec<serde_json::Value> = victim_cameras
        .iter()
        .map(|c| state(c).expect("a camera's state in etcd"))
        .collect();
    let counted_before: Vec<u64> = carried
        .iter()
        .map(|s| crossings(&s["analytics"]["lines"]))
        .collect();
    // What b and c recorded of each camera so far (a camera may have been theirs before).
    let recording = |i: &str, c: &str| common::recorded(&dir.join(format!("rec-{i}/{c}")));
    let recorded_before: BTreeMap<(String, String), usize> = ["b", "c"]
        .iter()
        .flat_map(|i| {
            victim_cameras
                .iter()
                .map(move |c| (i.to_string(), c.clone()))
        })
        .map(|(i, c)| {
            let n = recording(&i, &c).len();
            ((i, c), n)
        })
        .collect();
    let killed = Instant::now();
    signal(&instances[0].0, "-KILL");
    let _ = instances[0].0.wait();
    let rest = &ports[1..];
    let moved = wait_for(PATIENCE, || {
        let seen = owners(rest);
        victim_cameras
            .iter()
            .all(|c| seen.get(c).is_some_and(|o| o.len() == 1))
    });
    let move_s = killed.elapsed().as_secs_f64();
    assert!(moved, "{:?}", owners(rest));
    eprintln!("a's cameras {victim_cameras:?} streaming elsewhere {move_s:.1} s after kill -9");
    // Let the new owners see people, then stop the survivors cleanly.
    std::thread::sleep(Duration::from_secs(8));
    for (i, b) in instances.iter_mut().enumerate().skip(1) {
        signal(&b.0, "-TERM");
        assert_eq!(b.0.wait().unwrap().code(), Some(0), "{}", log(ports[i].0));
    }

    // The log: per camera, seq 1..N without gap or repeat, every start ended exactly once; a
    // moved camera's ids after the move above every id before it.
    for c in 1..=CAMERAS {
        let camera = format!("cam{c}");
        let events = journal(&nats.clients, &format!("vigil.lab.{camera}.events"));
        assert!(!events.is_empty(), "{camera}: no events in the log");
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "{camera}"
        );
        let mut started: BTreeMap<u64, usize> = BTreeMap::new();
        let mut ended: BTreeMap<u64, usize> = BTreeMap::new();
        for e in &events {
            let id = e["id"].as_u64().unwrap_or(0);
            match e["type"].as_str() {
                Some("track_started") => *started.entry(id).or_default() += 1,
                Some("track_ended") => *ended.entry(id).or_default() += 1,
                _ => {}
            }
        }
        assert!(
            started.values().all(|n| *n == 1),
            "{camera}: a track started twice"
        );
        assert_eq!(started, ended, "{camera}: every start ends exactly once");
        if let Some(k) = victim_cameras.iter().position(|v| *v == camera) {
            // The new owner's counts went on from the state written before the kill.
            let heir: Vec<serde_json::Value> = ["b", "c"]
                .into_iter()
                .flat_map(|i| {
                    let skip = recorded_before[&(i.to_string(), camera.clone())];
                    recording(i, &camera).into_iter().skip(skip)
                })
                .collect();
            let went_on_from = crossings(
                &heir
                    .iter()
                    .find(|r| r.get("frame").is_some())
                    .expect("the new owner's recording")["lines"],
            );
            eprintln!("{camera}: {} crossings in its state before the kill, the new owner's first frame shows {went_on_from}", counted_before[k]);
            assert!(
                went_on_from >= counted_before[k],
                "{camera}: counts reset by the move"
            );
            let by_a: Vec<u64> = events
                .iter()
                .filter(|e| e["instance"] == "a")
                .filter_map(|e| e["id"].as_u64())
                .collect();
            let after: Vec<u64> = events
                .iter()
                .filter(|e| e["instance"] != "a" && e["type"] == "track_started")
                .filter_map(|e| e["id"].as_u64())
                .collect();
            let before_max = by_a.iter().max().copied().unwrap_or(0);
            assert!(!after.is_empty(), "{camera}: no track after the move");
            assert!(
                after.iter().all(|id| *id > before_max),
                "{camera}: ids {after:?} after the move, {before_max} before"
            );
            let handed: Vec<&serde_json::Value> = events
                .iter()
                .filter(|e| e["reason"] == "handover")
                .collect();
            let fences: BTreeSet<i64> = events.iter().filter_map(|e| e["fence"].as_i64()).collect();
            assert!(fences.len() >= 2, "{camera}: one fence across two owners");
            eprintln!("{camera}: {} events, ids before the move up to {before_max}, after from {:?}; {} tracks ended as handed over", events.len(), after.iter().min(), handed.len());
        }
    }
}

#[test]
fn bad_cluster_set_ups_are_refused_in_one_line() {
    let _site = one_site();
    let dir = scratch("cluster_bad");
    // etcd unreachable at start: exit 2, one line naming it.
    let closed = free_port();
    let site = Site {
        dir: dir.clone(),
        etcd: vec![format!("http://127.0.0.1:{closed}")],
        nats: vec![],
        rtsp_port: free_port(),
    };
    let config = dir.join("unreachable.toml");
    let text = site
        .config("a", free_port(), "")
        .replace("[nats]\nservers = []\n", "");
    std::fs::write(&config, text).unwrap();
    let out = vigil()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach etcd"), "{err}");

    // Two instances of one name: the second refuses; a bad camera body writes nothing.
    let etcd = etcd(&dir, 1);
    let site = Site {
        dir: dir.clone(),
        etcd: etcd.clients.clone(),
        nats: vec![],
        rtsp_port: free_port(),
    };
    let port = free_port();
    let config = dir.join("one.toml");
    std::fs::write(
        &config,
        site.config("a", port, "")
            .replace("[nats]\nservers = []\n", ""),
    )
    .unwrap();
    let _first = Background(
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("first.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for(PATIENCE, || request(
        port,
        "GET",
        "/api/cluster",
        None
    )
    .0 == 200));
    let twin = dir.join("twin.toml");
    std::fs::write(
        &twin,
        site.config("a", free_port(), "")
            .replace("[nats]\nservers = []\n", ""),
    )
    .unwrap();
    let out = vigil()
        .args(["serve", "--config"])
        .arg(&twin)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another running instance") && err.trim().lines().count() == 1,
        "{err}"
    );
    let before = request(port, "GET", "/api/cluster", None).1;
    let (status, reply) = request(
        port,
        "PUT",
        "/api/cameras/cam9",
        Some(r#"{"url": "rtsp://x/1", "conf": "high"}"#),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("cameras.cam9.conf"), "{reply}");
    std::thread::sleep(Duration::from_secs(2)); // a round of the coordinator
    let after: serde_json::Value =
        serde_json::from_str(&request(port, "GET", "/api/cluster", None).1).unwrap();
    assert!(after["cameras"].get("cam9").is_none(), "{before} → {after}");
}

/// The fence of the JetStream stream leader's node index (`n0`…), from the stream's info.
fn stream_leader(servers: &[String]) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(servers[0].as_str()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("VIGIL_EVENTS").await.unwrap();
        let info = stream.info().await.unwrap();
        let leader = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .unwrap();
        leader.trim_start_matches('n').parse().unwrap()
    })
}

fn fences(port: u16) -> BTreeMap<String, (String, i64)> {
    let site: serde_json::Value =
        serde_json::from_str(&request(port, "GET", "/api/cluster", None).1).unwrap_or_default();
    site["cameras"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(c, o)| {
            Some((
                c.clone(),
                (o["owner"].as_str()?.to_string(), o["fence"].as_i64()?),
            ))
        })
        .collect()
}

#[test]
fn a_frozen_owner_stops_in_time_and_the_engines_leaders_can_die() {
    let _site = one_site();
    let (site, mut etcd, mut nats, _rtsp) = three_node_site("cluster_faults");
    let dir = site.dir.clone();
    let ports = [("a", free_port()), ("b", free_port()), ("c", free_port())];
    let mut instances: Vec<Background> = ports.iter().map(|(n, p)| site.start(n, *p)).collect();
    assert!(wait_for(PATIENCE, || {
        let seen = owners(&ports);
        seen.len() == CAMERAS && seen.values().all(|o| o.len() == 1)
    }));

    // The etcd leader dies, then the JetStream stream's leader: no camera changes owner.
    let before = fences(ports[1].1);
    assert_eq!(before.len(), CAMERAS);
    let leader = common::cluster::etcd_leader(&etcd);
    signal(&etcd.members[leader].0, "-KILL");
    std::thread::sleep(Duration::from_secs(8));
    let js_leader = stream_leader(&nats.clients);
    signal(&nats.nodes[js_leader].0, "-KILL");
    std::thread::sleep(Duration::from_secs(8));
    let port_alive = ports[1].1;
    assert_eq!(
        fences(port_alive),
        before,
        "owners changed while the leaders died"
    );
    eprintln!("etcd leader m{leader} and JetStream leader n{js_leader} killed: all {CAMERAS} owners and fences kept");
    // An instance whose renewal came late while etcd elected a leader pauses its cameras and
    // resumes them (same owner, same fence): every camera streams again.
    let paused: Vec<&str> = ports
        .iter()
        .filter(|(n, _)| {
            std::fs::read_to_string(dir.join(format!("{n}.log")))
                .unwrap_or_default()
                .contains("stopping this instance's cameras")
        })
        .map(|(n, _)| *n)
        .collect();
    assert!(
        wait_for(Duration::from_secs(15), || owners(&ports).len() == CAMERAS),
        "not every camera streams again: {:?}",
        owners(&ports)
    );
    eprintln!("instances that paused their cameras during the leaders' deaths: {paused:?}");

    // An owner frozen for 2 × lease_s: its cameras move; on waking it stops them at once.
    let frozen: BTreeSet<String> = fences(port_alive)
        .into_iter()
        .filter(|(_, (owner, _))| owner == "a")
        .map(|(c, _)| c)
        .collect();
    assert_eq!(frozen.len(), 2, "{:?}", fences(port_alive));
    assert!(wait_for(PATIENCE, || streaming(ports[0].1) == frozen));
    signal(&instances[0].0, "-STOP");
    let moved = wait_for(PATIENCE, || {
        let seen = owners(&ports[1..]);
        frozen.iter().all(|c| seen.contains_key(c))
    });
    assert!(moved, "{:?}", owners(&ports[1..]));
    std::thread::sleep(Duration::from_secs(1));
    let woke = Instant::now();
    signal(&instances[0].0, "-CONT");
    let stopped = wait_for(Duration::from_secs(10), || {
        let at_a = streaming(ports[0].1);
        frozen.iter().all(|c| !at_a.contains(c))
    });
    let stop_s = woke.elapsed().as_secs_f64();
    assert!(stopped, "a still streams {:?}", streaming(ports[0].1));
    eprintln!(
        "a stopped its {} cameras {stop_s:.2} s after SIGCONT (renewal interval 1 s)",
        frozen.len()
    );
    std::thread::sleep(Duration::from_secs(4));
    for (i, b) in instances.iter_mut().enumerate() {
        signal(&b.0, "-TERM");
        let _ = b.0.wait();
        let _ = i;
    }
    // No event with a's old fence is stored after the new owner's first event.
    let live: Vec<String> = {
        let mut v = nats.clients.clone();
        v.remove(js_leader);
        v
    };
    for camera in &frozen {
        let events = journal(&live, &format!("vigil.lab.{camera}.events"));
        let old = before[camera].1;
        let first_new = events
            .iter()
            .position(|e| e["fence"].as_i64().is_some_and(|f| f > old))
            .expect("events of the new owner");
        let late: Vec<&serde_json::Value> = events[first_new..]
            .iter()
            .filter(|e| e["fence"].as_i64() == Some(old))
            .collect();
        assert!(
            late.is_empty(),
            "{camera}: {} events with the old fence after the new owner's first",
            late.len()
        );
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "{camera}: seq"
        );
    }
    drop(etcd.members.drain(..));
    drop(nats.nodes.drain(..));
}

#[test]
fn a_fourth_instance_takes_cameras_one_at_a_time() {
    let _site = one_site();
    let (site, _etcd, _nats, _rtsp) = three_node_site("cluster_join");
    let ports = [
        ("a", free_port()),
        ("b", free_port()),
        ("c", free_port()),
        ("d", free_port()),
    ];
    let _first: Vec<Background> = ports[..3].iter().map(|(n, p)| site.start(n, *p)).collect();
    assert!(wait_for(PATIENCE, || {
        let seen = owners(&ports[..3]);
        seen.len() == CAMERAS && seen.values().all(|o| o.len() == 1)
    }));
    let joined = Instant::now();
    let _d = site.start("d", ports[3].1);
    // d's cameras, as the site says, every half second for 30 s: never two more at once.
    let d_cameras = || -> usize {
        fences(ports[0].1)
            .values()
            .filter(|(o, _)| o == "d")
            .count()
    };
    let (mut last, mut first_at) = (0, None);
    while joined.elapsed() < Duration::from_secs(30) {
        let now = d_cameras();
        assert!(now <= last + 1, "d took {} cameras at once", now - last);
        if now > 0 && first_at.is_none() {
            first_at = Some(joined.elapsed().as_secs_f64());
        }
        last = now;
        std::thread::sleep(Duration::from_millis(500));
    }
    let first_at = first_at.expect("d took no camera within 30 s");
    assert!(!streaming(ports[3].1).is_empty(), "d streams nothing");
    let seen = owners(&ports);
    assert_eq!(seen.len(), CAMERAS, "{seen:?}");
    assert!(seen.values().all(|o| o.len() == 1), "{seen:?}");
    eprintln!("d joined: first camera {first_at:.1} s later; after 30 s it runs {last}, the site {seen:?}");
}

/// Track ids in the frames of a camera's JSON Lines recording, frame by frame.
fn recorded_ids(dir: &std::path::Path) -> Vec<Vec<u64>> {
    common::recorded(dir)
        .into_iter()
        .filter(|r| r.get("frame").is_some())
        .map(|r| {
            r["tracks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_u64())
                .collect()
        })
        .collect()
}

#[test]
fn a_planned_move_keeps_the_live_tracks() {
    let _site = one_site();
    let dir = scratch("cluster_move");
    let etcd = etcd(&dir, 1);
    let nats = nats(&dir, 1);
    // A camera that goes on while its viewers change: the live MJPEG preview of a plain daemon
    // reading vtest.avi at its own pace (an RTSP test server restarts its file per client).
    let feed_port = free_port();
    let feed_dir = dir.join("feed");
    std::fs::create_dir_all(&feed_dir).unwrap();
    let _feed = common::serve_daemon(
        &feed_dir,
        &format!(
            "[http]\nlisten = \"127.0.0.1:{feed_port}\"\npreview_fps = 10\n[record]\ndir = \"{}\"\njson = false\n[cameras.street]\nurl = \"{}\"\npreview = true\n[cameras.street.source]\nrealtime = true\nspeed = 0.5\n",
            feed_dir.join("rec").display(),
            common::vtest().display()
        ),
    );
    let feed = format!("http://127.0.0.1:{feed_port}/cameras/street/mjpeg");
    assert!(wait_for(PATIENCE, || streaming(feed_port).contains("street")));
    let ports = [("a", free_port()), ("b", free_port())];
    let site = Site {
        dir: dir.clone(),
        etcd: etcd.clients.clone(),
        nats: nats.clients.clone(),
        rtsp_port: 0,
    };
    let mut instances = Vec::new();
    for (name, port) in &ports {
        let text = site
            .config(name, *port, "")
            .split("[cameras.cam1]")
            .next()
            .unwrap()
            .to_string()
            + &format!("[cameras.cam1]\nurl = \"{feed}\"\n");
        let text = text.replace("max_fps = 5", "max_fps = 0");
        instances.push(site.start_with(name, &text));
    }
    let owner = || {
        ports
            .iter()
            .find(|(_, p)| streaming(*p).contains("cam1"))
            .map(|(n, p)| (*n, *p))
    };
    assert!(wait_for(PATIENCE, || owner().is_some()));
    let (from, from_port) = owner().unwrap();
    let (to, to_port) = *ports.iter().find(|(n, _)| *n != from).unwrap();
    // People in view, tracked for a while.
    let active = |port: u16| {
        let (_, body) = request(port, "GET", "/healthz", None);
        let h: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        h["cameras"]["cam1"]["active_tracks"].as_i64().unwrap_or(0)
    };
    assert!(
        wait_for(PATIENCE, || active(from_port) >= 3),
        "nobody tracked at {from}"
    );
    // Someone counted at the line before the move, so that the counts going on mean something.
    let counted_at = |at: &str| -> Vec<u64> {
        common::recorded(&dir.join(format!("rec-{at}/cam1")))
            .iter()
            .filter(|r| r.get("frame").is_some())
            .map(|r| crossings(&r["lines"]))
            .collect()
    };
    assert!(
        wait_for(PATIENCE, || counted_at(from).last().is_some_and(|n| *n > 0)),
        "nobody crossed the line at {from}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let moved_at = Instant::now();
    let (status, body) = request(
        from_port,
        "POST",
        &format!("/api/cameras/cam1/move?to={to}"),
        None,
    );
    assert_eq!(status, 202, "{body}");
    assert!(
        wait_for(PATIENCE, || streaming(to_port).contains("cam1")),
        "{}",
        std::fs::read_to_string(dir.join(format!("{to}.log"))).unwrap()
    );
    let move_s = moved_at.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let before = recorded_ids(&dir.join(format!("rec-{from}/cam1")));
    let live: BTreeSet<u64> = before
        .last()
        .expect("frames before the move")
        .iter()
        .copied()
        .collect();
    let after = recorded_ids(&dir.join(format!("rec-{to}/cam1")));
    // The counts go on: the new owner's first frame shows at least the old owner's last count.
    let (counted, went_on_from) = (
        *counted_at(from).last().unwrap(),
        *counted_at(to).first().unwrap(),
    );
    eprintln!("line counts: {counted} at {from}'s last frame, {went_on_from} at {to}'s first");
    assert!(went_on_from >= counted, "the counts were reset by the move");
    let first: BTreeSet<u64> = after.iter().take(10).flatten().copied().collect();
    let kept = live.intersection(&first).count();
    eprintln!("planned move {from} → {to} in {move_s:.1} s: {kept} of the {} live track ids kept ({live:?} → {first:?})", live.len());
    assert!(!live.is_empty());
    assert!(kept * 10 >= live.len() * 8, "kept {kept} of {}", live.len());
    // SIGTERM drains the new owner: the camera goes back as in a planned move, its ids kept.
    let to_index = ports.iter().position(|(n, _)| *n == to).unwrap();
    let drained_at = Instant::now();
    signal(&instances[to_index].0, "-TERM");
    assert_eq!(instances[to_index].0.wait().unwrap().code(), Some(0));
    // The tracks alive in its last frame, written before it handed the camera over.
    let at_drain = recorded_ids(&dir.join(format!("rec-{to}/cam1")));
    let live: BTreeSet<u64> = at_drain.last().unwrap().iter().copied().collect();
    assert!(wait_for(PATIENCE, || streaming(from_port).contains("cam1")));
    let drain_s = drained_at.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let back = recorded_ids(&dir.join(format!("rec-{from}/cam1")));
    let resumed: BTreeSet<u64> = back[before.len()..]
        .iter()
        .take(10)
        .flatten()
        .copied()
        .collect();
    let kept_back = live.intersection(&resumed).count();
    eprintln!("SIGTERM drained {to}: cam1 back at {from} {drain_s:.1} s later, {kept_back} of the {} live ids kept", live.len());
    assert!(
        kept_back * 10 >= live.len() * 8,
        "kept {kept_back} of {} on the drain",
        live.len()
    );
    for b in &mut instances {
        signal(&b.0, "-TERM");
        let _ = b.0.wait();
    }
    // The log: the continued tracks were not ended at the old owner, and end once.
    let events = journal(&nats.clients, "vigil.lab.cam1.events");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let mut ends: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e["type"] == "track_ended") {
        *ends.entry(e["id"].as_u64().unwrap()).or_default() += 1;
    }
    assert!(ends.values().all(|n| *n == 1), "{ends:?}");
    // A continued track neither starts again nor enters its zone again at the new owner.
    let mut starts: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e["type"] == "track_started") {
        *starts.entry(e["id"].as_u64().unwrap()).or_default() += 1;
    }
    assert!(starts.values().all(|n| *n == 1), "{starts:?}");
    let mut inside: BTreeMap<u64, bool> = BTreeMap::new();
    let mut visits = 0;
    for e in &events {
        let id = e["id"].as_u64().unwrap_or(0);
        match e["type"].as_str() {
            Some("zone_enter") => {
                assert!(
                    !inside.insert(id, true).unwrap_or(false),
                    "{id} entered twice: {e}"
                );
                visits += 1;
            }
            Some("zone_exit") => {
                assert!(
                    inside.insert(id, false).unwrap_or(false),
                    "{id} left without entering: {e}"
                )
            }
            _ => {}
        }
    }
    assert!(visits > 0, "no zone visit in the log");
    drop(etcd);
}
