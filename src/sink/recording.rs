//! A camera's recordings in the daemon: the one place that decides which files a camera writes
//! and where (`DIR/CAMERA/tracks-*.jsonl`, `video-*.mp4`, `snapshots/track-*.jpg`), each behind
//! a [`Resilient`] wrapper so a full or vanished disk never stops the camera.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::jsonl::Rotation;
use super::resilient::{Opener, Resilient};
use super::{JsonLinesSink, SegmentedVideoSink, Sink, SnapshotSink};
use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::metrics::CameraMetrics;

/// `[record]` of the daemon's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// Root folder; each camera writes into `DIR/CAMERA/`.
    pub dir: PathBuf,
    /// Tracks and events as JSON Lines.
    pub json: bool,
    /// A new JSON Lines file at each UTC midnight.
    pub json_daily: bool,
    /// A new JSON Lines file before one passes this size, MiB; 0: no limit.
    pub json_max_mb: u64,
    /// Annotated video in segments.
    pub video: bool,
    /// Length of a video segment, seconds of stream time.
    pub segment_s: f64,
    /// A JPEG of each new track.
    pub snapshots: bool,
    /// Seconds between attempts to reopen a failed output.
    pub retry_s: f64,
    /// Recordings older than this many days are deleted (`vigil serve`); 0 keeps them.
    pub retain_days: f64,
    /// When the recording disk has less free space than this, MiB, the oldest recordings are
    /// deleted until it has that much again (`vigil serve`); 0: never.
    pub min_free_mb: u64,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("recordings"),
            json: true,
            json_daily: true,
            json_max_mb: 100,
            video: false,
            segment_s: 60.0,
            snapshots: false,
            retry_s: 5.0,
            retain_days: 0.0,
            min_free_mb: 500,
        }
    }
}

impl RecordConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.dir.as_os_str().is_empty() {
            return Err("record.dir must not be empty".into());
        }
        for (key, v) in [
            ("record.segment_s", self.segment_s),
            ("record.retry_s", self.retry_s),
        ] {
            // Up to a day: a longer segment or wait is a typo, and must stay a valid duration.
            if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
                return Err(format!("{key} = {v} must be > 0 and at most 86400"));
            }
        }
        if !(self.retain_days.is_finite() && self.retain_days >= 0.0) {
            return Err(format!(
                "record.retain_days = {} must be 0 (keep) or a positive number of days",
                self.retain_days
            ));
        }
        Ok(())
    }
}

/// Frame rate written into video files when the camera reports none that makes sense (many
/// RTSP cameras report 0 or 90000).
const FALLBACK_FPS: f64 = 25.0;

/// Opens the recordings `config` asks for, for one camera. A disk that is full, missing or
/// read-only now is not an error (each output reports it and retries); a `dir` that cannot be
/// a folder, or a camera name that cannot be a folder name, is.
pub fn open_recordings(
    camera: &str,
    config: &RecordConfig,
    fps: f64,
    labels: Arc<Labels>,
    trail_len: usize,
    metrics: &CameraMetrics,
) -> Result<Vec<Box<dyn Sink>>> {
    config.validate().map_err(Error::input)?;
    let dir = camera_dir(&config.dir, camera)?;
    let snapshot_dir = dir.join("snapshots");
    check_folder(&snapshot_dir)?;
    let retry = Duration::from_secs_f64(config.retry_s);
    let wrap = |kind, describe: String, opener| -> Box<dyn Sink> {
        Box::new(Resilient::new(
            kind,
            describe,
            opener,
            retry,
            metrics.clone(),
        ))
    };
    let mut sinks = Vec::new();
    if config.json {
        let describe = format!("JSON Lines '{}'", dir.join("tracks-*.jsonl").display());
        sinks.push(wrap("jsonl", describe, json_opener(&dir, config, &labels)));
    }
    if config.video {
        let fps = writer_fps(camera, fps);
        let describe = format!("video segments '{}'", dir.join("video-*.mp4").display());
        let opener = video_opener(&dir, config.segment_s, fps, &labels, trail_len);
        sinks.push(wrap("video", describe, opener));
    }
    if config.snapshots {
        let describe = format!("snapshots '{}'", snapshot_dir.join("track-*.jpg").display());
        sinks.push(wrap(
            "snapshot",
            describe,
            snapshot_opener(&snapshot_dir, &labels),
        ));
    }
    Ok(sinks)
}

/// `DIR/CAMERA`, refusing names that would leave `DIR` or nest folders.
fn camera_dir(dir: &Path, camera: &str) -> Result<PathBuf> {
    let bad = camera.is_empty()
        || camera == "."
        || camera == ".."
        || camera.contains(['/', '\\'])
        || camera.contains('\0');
    if bad {
        return Err(Error::input(format!(
            "camera '{camera}': the name cannot be a folder name under record.dir"
        )));
    }
    Ok(dir.join(camera))
}

/// Fails if a folder can never be created at `path` because it, or the closest part of it that
/// exists, is not a folder. Parts that do not exist yet are fine: outputs create them. Links
/// are followed, and a dangling one (a disk not mounted yet) is left to the retries.
fn check_folder(path: &Path) -> Result<()> {
    let Some(existing) = path.ancestors().find(|a| a.metadata().is_ok()) else {
        return Ok(());
    };
    if existing.as_os_str().is_empty() || existing.is_dir() {
        return Ok(());
    }
    Err(Error::input(format!(
        "record.dir: '{}' is not a folder, so '{}' cannot be created",
        existing.display(),
        path.display()
    )))
}

/// Creates the folder for an output on every (re)open, so one that was deleted comes back.
fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::input(format!("cannot create folder '{}': {e}", dir.display())))
}

fn json_opener(dir: &Path, config: &RecordConfig, labels: &Arc<Labels>) -> Opener {
    let (dir, labels) = (dir.to_path_buf(), labels.clone());
    let rotation = Rotation {
        daily: config.json_daily,
        max_bytes: config.json_max_mb.saturating_mul(1024 * 1024),
    };
    Box::new(move || {
        ensure_dir(&dir)?;
        let sink = JsonLinesSink::rotating(&dir, "tracks", labels.clone(), rotation)?;
        Ok(Box::new(sink) as Box<dyn Sink>)
    })
}

fn video_opener(
    dir: &Path,
    segment_s: f64,
    fps: f64,
    labels: &Arc<Labels>,
    trail_len: usize,
) -> Opener {
    let (dir, labels) = (dir.to_path_buf(), labels.clone());
    Box::new(move || {
        ensure_dir(&dir)?;
        let sink =
            SegmentedVideoSink::new(&dir, "video", segment_s, fps, labels.clone(), trail_len);
        Ok(Box::new(sink) as Box<dyn Sink>)
    })
}

fn snapshot_opener(dir: &Path, labels: &Arc<Labels>) -> Opener {
    let (dir, labels) = (dir.to_path_buf(), labels.clone());
    Box::new(move || {
        ensure_dir(&dir)?;
        Ok(Box::new(SnapshotSink::new(&dir, "track", labels.clone())) as Box<dyn Sink>)
    })
}

fn writer_fps(camera: &str, fps: f64) -> f64 {
    if fps.is_finite() && fps > 0.0 && fps <= 1000.0 {
        return fps;
    }
    tracing::warn!(
        camera,
        "the camera reports {fps} frames per second; its video is written at {FALLBACK_FPS}"
    );
    FALLBACK_FPS
}

/// What the tests of every sink module build frames and scratch folders from.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;
    use std::time::Instant;

    use opencv::core::{Mat, Scalar, CV_8UC3};

    use crate::frame::{Event, EventKind, Frame, FrameMeta, Track, TrackedFrame};
    use crate::geom::BBox;
    use crate::labels::Labels;

    /// A fresh, empty `target/test-scratch/NAME`.
    pub fn scratch(name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-scratch")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `class0`, `class1`.
    pub fn labels() -> Arc<Labels> {
        Arc::new(Labels::numbered(2))
    }

    fn bbox() -> BBox {
        BBox::from_tlwh(20.0, 30.0, 60.0, 90.0)
    }

    pub fn track(id: u64) -> Track {
        Track {
            id,
            class_id: 1,
            score: 0.9,
            bbox: bbox(),
            velocity: [1.0, 0.0],
            predicted: Vec::new(),
        }
    }

    fn event(kind: EventKind, id: u64) -> Event {
        Event {
            kind,
            id,
            class_id: 1,
            pts_ms: 0.0,
            first_pts_ms: 0.0,
            last_pts_ms: 0.0,
            frames_seen: 1,
            first_bbox: bbox(),
            last_bbox: bbox(),
            path_px: 0.0,
        }
    }

    pub fn started(id: u64) -> Event {
        event(EventKind::TrackStarted, id)
    }

    pub fn ended(id: u64) -> Event {
        event(EventKind::TrackEnded, id)
    }

    /// A flat grey BGR frame whose shade changes with `seq`.
    pub fn frame(
        seq: u64,
        pts_ms: f64,
        width: i32,
        height: i32,
        tracks: Vec<Track>,
        events: Vec<Event>,
    ) -> TrackedFrame {
        let shade = (seq * 7 % 200) as f64;
        let image =
            Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(shade)).unwrap();
        let meta = FrameMeta {
            seq,
            number: seq + 1,
            pts_ms,
            captured_at: Instant::now(),
            camera: crate::geom::Affine::IDENTITY,
            plan: Default::default(),
        };
        TrackedFrame {
            frame: Frame::unbudgeted(meta, image),
            detections: Vec::new(),
            detected: true,
            unchanged: false,
            tracks,
            events,
            scene: Default::default(),
        }
    }

    /// `(frames, width, height)` of a video's first stream, frames counted by decoding.
    pub fn ffprobe_stream(path: &Path) -> (u64, i32, i32) {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames,width,height"])
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(path)
            .output()
            .expect("ffprobe (apt install ffmpeg)");
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| {
                    let err = String::from_utf8_lossy(&out.stderr);
                    panic!("ffprobe {}: no {key} in {text:?} {err}", path.display())
                })
        };
        (
            field("nb_read_frames") as u64,
            field("width") as i32,
            field("height") as i32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{frame, labels, scratch, started, track};
    use super::*;
    use crate::metrics::Metrics;

    fn parse(text: &str) -> std::result::Result<RecordConfig, String> {
        let c: RecordConfig = toml::from_str(text).map_err(|e| e.message().to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn config_defaults_and_errors_name_the_key() {
        let c = parse("").unwrap();
        assert_eq!(c.dir, Path::new("recordings"));
        assert!(c.json && c.json_daily && !c.video && !c.snapshots);
        assert_eq!((c.json_max_mb, c.segment_s, c.retry_s), (100, 60.0, 5.0));
        assert!(parse("segment_s = 0")
            .unwrap_err()
            .contains("record.segment_s"));
        assert!(parse("retry_s = -1")
            .unwrap_err()
            .contains("record.retry_s"));
        assert!(parse("dir = \"\"").unwrap_err().contains("record.dir"));
        assert!(parse("vidoe = true").unwrap_err().contains("vidoe"));
    }

    #[test]
    fn writes_every_kind_into_the_camera_folder() {
        let root = scratch("recording-all");
        let config = RecordConfig {
            dir: root.clone(),
            video: true,
            snapshots: true,
            segment_s: 1.0,
            ..RecordConfig::default()
        };
        let metrics = Metrics::new().unwrap();
        let cam = metrics.camera("gate");
        let mut sinks = open_recordings("gate", &config, 10.0, labels(), 10, &cam).unwrap();
        let kinds: Vec<&str> = sinks.iter().map(|s| s.kind()).collect();
        assert_eq!(kinds, ["jsonl", "video", "snapshot"]);
        for i in 0..15 {
            let events = if i == 0 { vec![started(1)] } else { vec![] };
            let f = frame(i, i as f64 * 100.0, 320, 240, vec![track(1)], events);
            sinks.iter_mut().for_each(|s| s.write(&f).unwrap());
        }
        sinks.iter_mut().for_each(|s| s.finish().unwrap());
        let dir = root.join("gate");
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let files = names(&dir);
        assert_eq!(files.iter().filter(|n| n.starts_with("tracks-")).count(), 1);
        assert_eq!(files.iter().filter(|n| n.starts_with("video-")).count(), 2);
        assert_eq!(names(&dir.join("snapshots")), ["track-1-class1.jpg"]);
        assert!(!metrics.encode().contains("vigil_sink_errors_total{"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_dir_that_is_a_file_is_an_input_error() {
        let root = scratch("recording-file");
        let file = root.join("not-a-folder");
        std::fs::write(&file, "x").unwrap();
        let config = RecordConfig {
            dir: file,
            ..RecordConfig::default()
        };
        let cam = Metrics::new().unwrap().camera("gate");
        let err = open_recordings("gate", &config, 10.0, labels(), 10, &cam)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Input(_)));
        assert!(err.to_string().contains("record.dir"), "{err}");
        let bad_name = open_recordings("../x", &RecordConfig::default(), 10.0, labels(), 10, &cam);
        assert!(bad_name.err().unwrap().to_string().contains("'../x'"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_deleted_folder_comes_back() {
        let root = scratch("recording-vanish");
        let config = RecordConfig {
            dir: root.clone(),
            retry_s: 0.001,
            ..RecordConfig::default()
        };
        let metrics = Metrics::new().unwrap();
        let cam = metrics.camera("gate");
        let mut sinks = open_recordings("gate", &config, 10.0, labels(), 10, &cam).unwrap();
        let f = frame(0, 0.0, 32, 24, vec![track(1)], vec![]);
        sinks[0].write(&f).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        // The file's absence is noticed within a second; the retry after it recreates both.
        std::thread::sleep(Duration::from_millis(1100));
        sinks[0].write(&f).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        sinks[0].write(&f).unwrap();
        sinks[0].finish().unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(root.join("gate"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(
            std::fs::read_to_string(&files[0]).unwrap().lines().count(),
            1
        );
        let text = metrics.encode();
        assert!(
            text.contains("vigil_sink_errors_total{camera=\"gate\",sink=\"jsonl\"} 1"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unwritable_disk_at_start_is_retried_not_fatal() {
        let config = RecordConfig {
            dir: PathBuf::from("/sys/vigil-cannot-write-here"),
            ..RecordConfig::default()
        };
        let metrics = Metrics::new().unwrap();
        let cam = metrics.camera("gate");
        let mut sinks = open_recordings("gate", &config, 10.0, labels(), 10, &cam).unwrap();
        sinks[0]
            .write(&frame(0, 0.0, 32, 24, vec![], vec![]))
            .unwrap();
        let text = metrics.encode();
        assert!(
            text.contains("vigil_sink_errors_total{camera=\"gate\",sink=\"jsonl\"} 1"),
            "{text}"
        );
    }
}
