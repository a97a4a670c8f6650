//! Helpers shared by the integration tests: where the data is, and running the binary.
#![allow(dead_code)]

pub mod boxes;
pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data folder: `$VIGIL_SHARED`, else `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    assert!(
        dir.join("models/yolox_nano.onnx").is_file(),
        "shared data not found at {} (set VIGIL_SHARED)",
        dir.display()
    );
    dir
}

/// The tiny layout graphs scripts/test.sh builds (scripts/golden/make_layout_models.py).
pub fn layout_model(name: &str) -> PathBuf {
    let path = root().join(".deps/layouts").join(format!("{name}.onnx"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test.sh, which builds it",
        path.display()
    );
    path
}

pub fn vtest() -> PathBuf {
    shared().join("videos/vtest.avi")
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn vigil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.current_dir(root()).arg("--quiet");
    cmd
}

pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    vigil().args(args).output().expect("run vigil")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs vigil and requires success, showing its stderr otherwise.
pub fn run_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// `vigil eval --gt GT --res RES --json OUT`, required to succeed; the JSON it wrote.
pub fn eval_json(gt: &Path, res: &Path, out: &Path) -> serde_json::Value {
    run_ok(&[
        "eval",
        "--gt",
        gt.to_str().unwrap(),
        "--res",
        res.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// Runs ffmpeg (quietly), requiring success.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg (apt install ffmpeg)");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", stderr(&out));
}

/// `ffprobe -show_entries ENTRIES` of a video's first video stream, as bare CSV values.
pub fn ffprobe_entries(path: &Path, extra: &[&str], entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(extra)
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (apt install ffmpeg)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Frames in a video as ffprobe counts them by decoding every one.
pub fn ffprobe_frames(path: &Path) -> u64 {
    let text = ffprobe_entries(path, &["-count_frames"], "stream=nb_read_frames");
    text.trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe on {}: {text:?}", path.display()))
}

/// One parsed MOTChallenge result line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotRow {
    pub frame: u64,
    pub id: u64,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl MotRow {
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// The frame objects of a JSON Lines output, in order: every line but those of tracks ended
/// between frames (`{"end":"stream"|"outage",…,"events":[…]}`, see `json_end`).
pub fn json_frames(path: &Path) -> Vec<serde_json::Value> {
    json_lines(path)
        .into_iter()
        .filter(|v| v.get("end").is_none())
        .collect()
}

/// The end-of-stream line of a JSON Lines output, when tracks were alive at the end.
pub fn json_end(path: &Path) -> Option<serde_json::Value> {
    json_lines(path).pop().filter(|v| v["end"] == "stream")
}

/// Every line of a JSON Lines output, parsed (each must be whole).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
        .collect()
}

/// Parses a MOT file strictly: every line has 10 numeric fields.
pub fn read_mot(path: &Path) -> Vec<MotRow> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line incomplete"
    );
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let f: Vec<f64> = line
                .split(',')
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("line {}: {line}", n + 1))
                })
                .collect();
            assert_eq!(f.len(), 10, "line {}: {line}", n + 1);
            assert!(
                f[4] > 0.0 && f[5] > 0.0,
                "line {}: non-positive size",
                n + 1
            );
            MotRow {
                frame: f[0] as u64,
                id: f[1] as u64,
                x: f[2] as f32,
                y: f[3] as f32,
                w: f[4] as f32,
                h: f[5] as f32,
            }
        })
        .collect()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; whether it held.
pub fn wait_for(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    check()
}

/// A child process killed when the test ends, pass or fail.
pub struct Background(pub std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `../shared/tools/rtsp_server.py` serving vtest.avi with basic auth on `port`, ready to accept.
pub fn rtsp_server(port: u16, user: &str, password: &str) -> Background {
    rtsp_server_of(&vtest(), port, user, password)
}

/// The RTSP server serving `video`.
pub fn rtsp_server_of(video: &Path, port: u16, user: &str, password: &str) -> Background {
    let mut child = Command::new("/usr/bin/python3")
        .arg(shared().join("tools/rtsp_server.py"))
        .arg(video)
        .args([
            "--port",
            &port.to_string(),
            "--user",
            user,
            "--password",
            password,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rtsp_server.py (apt install python3-gi gir1.2-gst-rtsp-server-1.0)");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert!(line.starts_with("serving"), "rtsp_server.py said {line:?}");
    Background(child)
}

/// Debian's mosquitto on `port` (loopback, anonymous, persistent so queued QoS 1 messages
/// survive a restart), with its files in `dir`.
pub fn mosquitto(port: u16, dir: &Path) -> Background {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            // As root, mosquitto would switch to its own user and could not save its state here.
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nuser root\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start mosquitto (apt install mosquitto)");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "mosquitto did not listen on {port}"
    );
    Background(child)
}

/// `mosquitto_sub` on the broker at `port`: every message of `topic` at QoS 1, one line each
/// (`TOPIC PAYLOAD`) in `log`. With a `client_id` it is persistent (`-c`): the broker keeps its
/// messages across a restart of the broker.
pub fn mqtt_subscriber(port: u16, topic: &str, log: &Path, client_id: Option<&str>) -> Background {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"]);
    if let Some(id) = client_id {
        cmd.args(["-c", "-i", id]);
    }
    let child = cmd
        .args(["-t", topic, "-v"])
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto_sub (apt install mosquitto-clients)");
    Background(child)
}

/// A plain HTTP/1.0 GET: status code, headers and body; status 0 when nothing listens.
pub fn http_get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http_get_within(port, path, std::time::Duration::from_secs(10))
}

/// `http_get`, waiting up to `timeout` for each read of the answer; status 0 when none came.
pub fn http_get_within(
    port: u16,
    path: &str,
    timeout: std::time::Duration,
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), Vec::new());
    };
    s.set_read_timeout(Some(timeout)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// Every JSON Lines record a daemon's camera has recorded so far (DIR = `record.dir/NAME`), in
/// the order the files were written: a camera that came back starts a new file, whose name
/// ("tracks-DAY-1") sorts before the first one's ("tracks-DAY").
pub fn recorded(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.created()).ok());
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

/// `vigil serve` with this config text, written to DIR/serve.toml; its log in DIR/stderr.log.
pub fn serve_daemon(dir: &Path, config: &str) -> Background {
    serve_daemon_with_env(dir, config, &[])
}

/// `serve_daemon` with these variables added to its environment.
pub fn serve_daemon_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Background {
    let path = dir.join("serve.toml");
    std::fs::write(&path, config).unwrap();
    let daemon = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .envs(env.iter().copied())
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    Background(daemon)
}

/// Sends SIGTERM (or SIGINT) to a child process.
pub fn signal(child: &std::process::Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

/// A MOT17 val-half set of `seqs` under `dir/val`, made from the shared data the way
/// tools/mot_valhalf.py makes it (frames N/2+2..N renumbered from 1), with up to `frames` frames
/// of each; detections in `det/det.txt`, camera motion in `gmc/botsort.txt`.
pub fn val_half(dir: &Path, seqs: &[&str], frames: u64) -> PathBuf {
    let root = dir.join("val");
    for seq in seqs {
        let src = shared().join("mot/MOT17").join(seq);
        let ini = std::fs::read_to_string(src.join("seqinfo.ini")).unwrap();
        let length: u64 = ini
            .lines()
            .find_map(|l| l.strip_prefix("seqLength="))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let first = length / 2 + 2;
        let frames = frames.min(length + 1 - first);
        let out = root.join(seq);
        std::fs::create_dir_all(out.join("gt")).unwrap();
        std::fs::create_dir_all(out.join("det")).unwrap();
        std::fs::write(
            out.join("seqinfo.ini"),
            ini.replace(
                &format!("seqLength={length}"),
                &format!("seqLength={frames}"),
            ),
        )
        .unwrap();
        for (from, to) in [
            ("gt/gt.txt", "gt/gt.txt"),
            ("det/yolox_x_ablation.txt", "det/det.txt"),
        ] {
            let text = std::fs::read_to_string(src.join(from)).unwrap();
            let kept: String = text
                .lines()
                .filter_map(|l| {
                    let (frame, rest) = l.split_once(',')?;
                    let f: u64 = frame.parse().ok()?;
                    (f >= first && f < first + frames)
                        .then(|| format!("{},{rest}\n", f - first + 1))
                })
                .collect();
            std::fs::write(out.join(to), kept).unwrap();
        }
        // Camera motion: line j maps frame j onto j + 1; the first line is the identity.
        let gmc = std::fs::read_to_string(src.join("gmc/botsort.txt")).unwrap();
        let lines: Vec<&str> = gmc.lines().collect();
        let mut sliced = String::from("0\t1\t0\t0\t0\t1\t0\n");
        for j in 1..frames as usize {
            let maps = lines[first as usize - 1 + j].split_once('\t').unwrap().1;
            sliced += &format!("{j}\t{maps}\n");
        }
        std::fs::create_dir_all(out.join("gmc")).unwrap();
        std::fs::write(out.join("gmc/botsort.txt"), sliced).unwrap();
    }
    root
}
