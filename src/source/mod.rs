//! Frame sources: video files (FFmpeg directly), MOTChallenge image sequences, cameras and
//! network streams (OpenCV's capture, reconnecting), behind one trait. A source yields BGR
//! frames with presentation timestamps until its stream ends.

mod file;
mod image_seq;
mod live;
mod pace;
mod probe;
mod video;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use opencv::core::Mat;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metrics::{self, CameraMetrics};

pub use file::FileSource;
pub use image_seq::ImageSequence;
pub use live::{LiveInput, LiveSource};
pub use pace::Paced;
pub use video::{use_transport, VideoSource};

/// RTSP over TCP survives lossy networks and NAT; UDP has less latency on a clean LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// How a source is read: the `[source]` section, per camera in the daemon.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamOptions {
    /// RTSP transport; one for the whole process (FFmpeg reads it from the environment).
    pub transport: Transport,
    /// Give up opening a stream after this long.
    pub open_timeout_s: f64,
    /// A live stream with no frame for this long is stalled and reopened.
    pub stall_timeout_s: f64,
    /// First wait before reconnecting; doubles up to `backoff_max_s` (with jitter).
    pub backoff_initial_s: f64,
    pub backoff_max_s: f64,
    /// Read a file or image sequence at its own frame rate, like a camera (`--realtime`).
    pub realtime: bool,
    /// With `realtime`: this many times the file's rate.
    pub speed: f64,
    /// Frames above this rate are dropped at capture (counted); 0 keeps every frame.
    pub max_fps: f64,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            open_timeout_s: 10.0,
            stall_timeout_s: 5.0,
            backoff_initial_s: 0.5,
            backoff_max_s: 30.0,
            realtime: false,
            speed: 1.0,
            max_fps: 0.0,
        }
    }
}

impl StreamOptions {
    /// Messages name the key under `section` (`source`, or `cameras.NAME`).
    pub fn validate(&self, section: &str) -> std::result::Result<(), String> {
        let positive = [
            ("open_timeout_s", self.open_timeout_s),
            ("stall_timeout_s", self.stall_timeout_s),
            ("backoff_initial_s", self.backoff_initial_s),
            ("backoff_max_s", self.backoff_max_s),
        ];
        // A day bounds every wait: past that a value is a typo, and durations stay representable.
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0 && v <= DAY_S) {
                return Err(format!(
                    "{section}.{key} = {v} must be a positive number up to {DAY_S}"
                ));
            }
        }
        if !(0.01..=1000.0).contains(&self.speed) {
            return Err(format!(
                "{section}.speed = {} must be within [0.01, 1000]",
                self.speed
            ));
        }
        if !(self.max_fps.is_finite() && self.max_fps >= 0.0) {
            return Err(format!(
                "{section}.max_fps = {} must be 0 (no cap) or positive",
                self.max_fps
            ));
        }
        Ok(())
    }
}

const DAY_S: f64 = 86_400.0;

/// What opening a source needs besides its name: how to read it, where to report its state,
/// and the flag that ends waits when the pipeline stops.
pub struct OpenOptions<'a> {
    pub stream: &'a StreamOptions,
    pub metrics: &'a CameraMetrics,
    pub stop: &'a Arc<AtomicBool>,
    /// A live input's first connection must succeed (`vigil track`), or may be retried (daemon).
    pub must_connect_first: bool,
}

/// What a source knows about its stream before the first frame.
#[derive(Clone, Debug)]
pub struct SourceInfo {
    /// How the source is named in messages (credentials redacted).
    pub name: String,
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    /// Frames expected, for progress and truncation checks; `None` for live streams.
    pub frame_count: Option<u64>,
    /// Live sources cannot be paused: they drop frames rather than block.
    pub live: bool,
}

/// One decoded frame as a source yields it.
pub struct RawFrame {
    /// 0-based index; for image sequences, the file's frame number minus one.
    pub index: u64,
    pub pts_ms: f64,
    pub image: Mat,
}

/// The frame rate a stream declares, or 25 where it declares none that makes sense (many RTSP
/// cameras say 0 or 90000).
fn nominal_fps(declared: f64) -> f64 {
    if declared.is_finite() && declared > 0.0 && declared < 1000.0 {
        declared
    } else {
        25.0
    }
}

/// Numbers a decoded stream's frames and keeps their times moving forward: the time the decoder
/// or container gives while it moves forward, else (none, or one that goes back) the nominal
/// rate's, after the last.
struct FrameClock {
    fps: f64,
    /// The number the next frame gets (0-based).
    next_index: u64,
    last_pts_ms: f64,
}

impl FrameClock {
    fn new(fps: f64) -> Self {
        Self {
            fps,
            next_index: 0,
            last_pts_ms: f64::NEG_INFINITY,
        }
    }

    /// The next frame, with `reported_ms` (NaN if none) made a time after the last.
    fn stamp(&mut self, image: Mat, reported_ms: f64) -> RawFrame {
        let pts_ms = if reported_ms.is_finite() && reported_ms > self.last_pts_ms {
            reported_ms
        } else {
            let nominal = self.next_index as f64 * 1000.0 / self.fps;
            nominal.max(self.last_pts_ms + 1.0)
        };
        self.last_pts_ms = pts_ms;
        self.next_index += 1;
        RawFrame {
            index: self.next_index - 1,
            pts_ms,
            image,
        }
    }

    /// Frames lost (damaged data) keep their numbers, so the ones after keep the container's.
    fn skip(&mut self, frames: u64) {
        self.next_index += frames;
    }
}

pub trait FrameSource: Send {
    fn info(&self) -> &SourceInfo;
    /// The next frame, or `None` at the end of the stream.
    fn next_frame(&mut self) -> Result<Option<RawFrame>>;
    /// Called at the end of the stream: an error if it ended early (a truncated file).
    fn check_complete(&self) -> Result<()> {
        Ok(())
    }
}

/// Opens INPUT as the interface contract defines it: a camera index, a stream URL, a
/// MOTChallenge sequence folder, or a video file. Cameras and URLs reconnect by themselves.
pub fn open(input: &str, options: OpenOptions) -> Result<Box<dyn FrameSource>> {
    let live = |what| {
        LiveSource::open(
            what,
            options.stream.clone(),
            options.metrics.clone(),
            options.stop.clone(),
            options.must_connect_first,
        )
        .map(|s| Box::new(s) as Box<dyn FrameSource>)
    };
    if !input.is_empty() && input.chars().all(|c| c.is_ascii_digit()) {
        let index = input
            .parse()
            .map_err(|_| Error::input(format!("camera index '{input}' is out of range")))?;
        return live(LiveInput::Camera(index));
    }
    if input.contains("://") {
        check_url(input)?;
        return live(LiveInput::Url(input.to_string()));
    }
    let path = Path::new(input);
    let file: Box<dyn FrameSource> = if path.is_dir() {
        Box::new(ImageSequence::open(path)?)
    } else if path.exists() {
        Box::new(FileSource::open(path)?)
    } else {
        let scheme = input.split([':', '/']).next().unwrap_or("");
        let looks_like_url = input.len() > scheme.len() && STREAM_SCHEMES.contains(&scheme);
        let hint = match looks_like_url {
            true => format!(" (a stream's URL starts with '{scheme}://')"),
            false => String::new(),
        };
        return Err(Error::input(format!(
            "input '{}': no such file or directory{hint}",
            redact_url(input)
        )));
    };
    // A file is ready once open: it has no connection to lose.
    options
        .metrics
        .set_state(metrics::SourceState::Streaming, None);
    if options.stream.realtime {
        return Ok(Box::new(Paced::new(
            file,
            options.stream.speed,
            options.stop.clone(),
        )));
    }
    Ok(file)
}

/// The network protocols FFmpeg opens for a camera or a stream server (and `file`).
const STREAM_SCHEMES: [&str; 19] = [
    "rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "rtmpts", "rtmpe", "rtmpte", "http", "https", "hls",
    "srt", "rist", "udp", "rtp", "tcp", "mmsh", "mmst", "file",
];

/// A URL that can never connect is a mistake to say at once, not to retry forever: an unknown
/// scheme (`rtps://`) or a port beyond 65535.
fn check_url(url: &str) -> Result<()> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    if !STREAM_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(Error::input(format!(
            "input '{}': unknown stream protocol '{scheme}' (known: {})",
            redact_url(url),
            STREAM_SCHEMES.join(", ")
        )));
    }
    // The port text is never echoed: in a malformed URL it could be part of a password.
    let (_, host_port, _) = split_authority(rest);
    if let Some((_, port)) = host_port.rsplit_once(':') {
        // `[::1]` has colons of its own, inside the brackets.
        if !port.is_empty() && !port.contains(']') && port.parse::<u16>().is_err() {
            return Err(Error::input(format!(
                "input '{}': the port is not a number from 1 to 65535",
                redact_url(url)
            )));
        }
    }
    Ok(())
}

/// What follows a URL's `scheme://`: the user information (up to the last `@` before the query,
/// so a password may hold `/`), the host and port (up to the next `/` or `?`), and the rest.
pub(crate) fn split_authority(rest: &str) -> (Option<&str>, &str, &str) {
    let query_at = rest.find('?').unwrap_or(rest.len());
    let (user_info, after) = match rest[..query_at].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    (user_info, &after[..end], &after[end..])
}

/// `rtsp://user:secret@host/...` → `rtsp://user:***@host/...`, and the values of query parameters
/// that carry secrets (`?user=admin&pwd=x` → `?user=admin&pwd=***`), for logs and messages. The
/// user information ends at the last `@` before the query, so a password with a `/` in it is
/// hidden too.
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = match url.find("://") {
        Some(end) => url.split_at(end + 3),
        None => ("", url),
    };
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let mut out = match before_query.rfind('@') {
        Some(at) => {
            // A mistyped scheme (`rtsp//admin:pw@host`) still carries a password: there the
            // user information follows the first `//`, or starts the text, and only
            // `user:password@` is one.
            let start = match prefix {
                "" => before_query[..at]
                    .find("//")
                    .map_or(0, |slashes| slashes + 2),
                _ => 0,
            };
            let (path, user_info) = (&before_query[..start], &before_query[start..at]);
            if prefix.is_empty() && !user_info.contains(':') {
                before_query.to_string()
            } else {
                let user = user_info.split(':').next().unwrap_or("");
                format!("{prefix}{path}{user}:***{}", &before_query[at..])
            }
        }
        None => format!("{prefix}{before_query}"),
    };
    if let Some(query) = query {
        let params: Vec<String> = query.split('&').map(redact_param).collect();
        out = format!("{out}?{}", params.join("&"));
    }
    out
}

fn redact_param(param: &str) -> String {
    const SECRET: [&str; 7] = ["pass", "pwd", "token", "key", "auth", "secret", "sig"];
    match param.split_once('=') {
        Some((key, _)) if SECRET.iter().any(|s| key.to_ascii_lowercase().contains(s)) => {
            format!("{key}=***")
        }
        _ => param.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_can_never_connect_are_refused() {
        for good in [
            "rtsp://admin:pw@10.0.0.1:554/cam",
            "RTSP://host/cam",
            "http://cam/mjpg?a=b:c",
            "rtsp://[::1]:8554/cam",
            "rtsp://[::1]/cam",
            "srt://host:9000",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        let e = check_url("rtps://admin:pw@host/cam")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown stream protocol 'rtps'") && !e.contains("pw"),
            "{e}"
        );
        let e = check_url("rtsp://admin:pw@host:99999/cam")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the port is not a number") && !e.contains("pw"),
            "{e}"
        );
        // A password with `/` in it is never read as the port.
        assert!(check_url("rtsp://admin:pa/ss@10.0.0.1/cam").is_ok());
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("rtsp://admin:pw@10.0.0.1:554/cam"),
            "rtsp://admin:***@10.0.0.1:554/cam"
        );
        assert_eq!(
            redact_url("rtsp://admin@host/cam"),
            "rtsp://admin:***@host/cam"
        );
        assert_eq!(redact_url("rtsp://host/cam?a=b@c"), "rtsp://host/cam?a=b@c");
        assert_eq!(redact_url("video.mp4"), "video.mp4");
        assert_eq!(
            redact_url("rtsp//admin:pw@10.0.0.1:554/cam"),
            "rtsp//admin:***@10.0.0.1:554/cam"
        );
        assert_eq!(
            redact_url("admin:pw@10.0.0.1/cam?token=t"),
            "admin:***@10.0.0.1/cam?token=***"
        );
        assert_eq!(redact_url("clips/me@home.mp4"), "clips/me@home.mp4");
        assert_eq!(
            redact_url("rtsp//admin:pa/ss@10.0.0.1/cam"),
            "rtsp//admin:***@10.0.0.1/cam"
        );
        assert_eq!(
            redact_url("rtsp://admin:pa/ss@10.0.0.1/cam"),
            "rtsp://admin:***@10.0.0.1/cam"
        );
        assert_eq!(
            redact_url("http://cam/video.cgi?user=admin&pwd=secret&channel=1"),
            "http://cam/video.cgi?user=admin&pwd=***&channel=1"
        );
        assert_eq!(
            redact_url("http://cam/mjpg?Password=x&api_key=y"),
            "http://cam/mjpg?Password=***&api_key=***"
        );
    }
}
