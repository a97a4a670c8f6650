//! The TOML configuration (`--config FILE.toml`): every tunable with its default, validated
//! with messages that name the bad key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analytics::AnalyticsConfig;
use crate::detect::{Device, Family, Tiles};
use crate::error::{Error, Result};
use crate::motion::GateConfig;
use crate::pipeline::Schedule;
use crate::privacy::PrivacyConfig;
use crate::source::StreamOptions;
use crate::track::TrackerConfig;

mod env;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub detector: DetectorConfig,
    pub tracker: TrackerConfig,
    pub output: OutputConfig,
    pub source: StreamOptions,
    pub analytics: AnalyticsConfig,
    pub privacy: PrivacyConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// ONNX model; default `models/yolox_nano.onnx` of the project.
    pub model: Option<PathBuf>,
    /// Class names, one a line; default `models/coco.names`.
    pub labels: Option<PathBuf>,
    /// Minimum detection score. Low on purpose: the tracker's second round uses the weak boxes.
    pub conf: f32,
    /// NMS IoU threshold.
    pub iou: f32,
    /// Class names to keep; empty keeps all.
    pub classes: Vec<String>,
    pub device: Device,
    /// Parallel inference sessions; 0 picks from the cores present.
    pub workers: usize,
    /// Intra-op threads per session; 0 picks from the cores present.
    pub threads: usize,
    /// The model's output layout; read from the graph when not given.
    pub family: Option<Family>,
    /// Keep at most this many detections a frame, the most confident (0: all). 1 turns the
    /// detector into a single-object localiser.
    pub max_objects: usize,
    /// Detect in overlapping tiles of each frame too: "off", "auto" (frames at least about
    /// three model inputs across) or "RxC".
    pub tiles: Tiles,
    /// Extend the boxes of people cut by the frame's edge past it to a whole person's shape
    /// (width 0.41 × height), as MOTChallenge annotates them and as the foot point of counting
    /// lines and ground speeds needs; applies to the class named "person", if the model has one.
    pub complete_cut_people: bool,
    /// Run the detector on every Nth frame of a stream only; the tracker carries the tracks
    /// through the frames between by prediction.
    pub detect_every: u64,
    /// Skip the detector on frames where nothing has changed since it last ran.
    pub motion_gate: GateConfig,
    /// The adaptive budget: keep the detectors under this share of the machine's CPU by
    /// raising `detect_every` on the busiest cameras first (0: off).
    pub cpu_target: f64,
    /// Stack up to this many frames (of one stream or of several cameras) into one run of the
    /// network: more throughput on a GPU; none on a CPU, where 1 (the default) is best. Needs a
    /// model whose batch is free (`scripts/make_batch_models.py`).
    pub batch: usize,
    /// With `batch` > 1: how long the first frame of a batch waits for the others at most, so
    /// latency stays bounded when frames come slowly.
    pub batch_wait_ms: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            model: None,
            labels: None,
            conf: 0.1,
            iou: 0.45,
            classes: Vec::new(),
            device: Device::Cpu,
            workers: 0,
            threads: 0,
            family: None,
            max_objects: 0,
            tiles: Tiles::Auto,
            complete_cut_people: true,
            detect_every: 1,
            motion_gate: GateConfig::default(),
            cpu_target: 0.0,
            batch: 1,
            batch_wait_ms: 10.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Length of the trail drawn behind each track, in frames.
    pub trail_length: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self { trail_length: 30 }
    }
}

/// Parses TOML into `T`; a mistake is one line that gives its line number: `line 3: ...`.
/// `${VAR}` in any string is first replaced from the environment (`env`); a file that uses it is
/// read through a table, and its later mistakes name the key without the line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    if text.contains("${") {
        let mut table: toml::Table = text.parse().map_err(|e| describe(text, "", e))?;
        let values = env::substitute(&mut table, &|name| std::env::var(name).ok())?;
        return serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            env::hide(
                describe(text, &e.path().to_string(), e.into_inner()),
                &values,
            )
        });
    }
    serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| describe(text, &e.path().to_string(), e.into_inner()))
}

/// One line: the line number where known, the key's path (`privacy.mode`) where the error is
/// about a value, and TOML's message.
fn describe(text: &str, path: &str, e: toml::de::Error) -> String {
    let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
    let at = line.map_or(String::new(), |l| format!("line {l}: "));
    let key = match path {
        "" | "." => String::new(),
        p => format!("{p}: "),
    };
    format!("{at}{key}{}", e.message().trim().replace('\n', "; "))
}

/// Reads the configuration file at `path` with `parse`; every error names the file.
pub fn load_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Result<T> {
    let in_file = |e: String| Error::input(format!("config '{}': {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| in_file(e.to_string()))?;
    parse(&text).map_err(in_file)
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        load_file(path, Self::parse)
    }

    /// A checked configuration from TOML text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let config: Config = parse_toml(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        let d = &self.detector;
        for (key, v) in [("detector.conf", d.conf), ("detector.iou", d.iou)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{key} = {v} must be within [0, 1]"));
            }
        }
        if d.detect_every == 0 {
            return Err("detector.detect_every = 0: must be 1 (every frame) or more".into());
        }
        d.motion_gate.validate("detector.motion_gate")?;
        if !(d.cpu_target.is_finite() && (0.0..=1.0).contains(&d.cpu_target)) {
            return Err(format!(
                "detector.cpu_target = {} must be a share of the CPU in (0, 1], or 0 (off)",
                d.cpu_target
            ));
        }
        if !(1..=64).contains(&d.batch) {
            return Err(format!(
                "detector.batch = {}: frames a run must be 1 to 64",
                d.batch
            ));
        }
        if !(d.batch_wait_ms.is_finite() && (0.0..=1000.0).contains(&d.batch_wait_ms)) {
            return Err(format!(
                "detector.batch_wait_ms = {} must be 0 to 1000 milliseconds",
                d.batch_wait_ms
            ));
        }
        self.tracker.validate()?;
        self.source.validate("source")?;
        self.analytics.validate("analytics")?;
        self.privacy.validate("privacy")
    }
}

impl DetectorConfig {
    /// Which frames of a stream the detector sees.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            detect_every: self.detect_every,
            motion_gate: self.motion_gate.clone(),
        }
    }

    /// Inference sessions and threads per session for the cores present, unless configured.
    pub fn worker_layout(&self) -> (usize, usize) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // One single-threaded session per core wastes no CPU on thread-pool spinning; beyond four
        // sessions, frames in flight (latency) grow faster than throughput.
        let workers = match (self.workers, self.device) {
            (0, Device::Cpu) => cores.clamp(1, 4),
            (0, _) => 2,
            (n, _) => n,
        };
        let threads = match self.threads {
            0 => (cores / workers).max(1),
            n => n,
        };
        (workers, threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Config, String> {
        Config::parse(text)
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.detector.conf, 0.1);
        assert_eq!(c.tracker.high_score, 0.5);
    }

    #[test]
    fn shipped_config_states_the_defaults() {
        let shipped = parse(include_str!("../configs/default.toml")).unwrap();
        let defaults = Config::default();
        assert_eq!(
            format!("{:?}", shipped.detector),
            format!("{:?}", defaults.detector)
        );
        assert_eq!(
            format!("{:?}", shipped.tracker),
            format!("{:?}", defaults.tracker)
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        // (config, what its error must name)
        let cases = [
            ("[detector]\nconfx = 0.3\n", "confx"),
            ("[detector]\nconf = 1.5\n", "detector.conf"),
            ("[tracker]\nlow_score = 0.9\n", "tracker.low_score"),
            ("[detector]\ndevice = \"tpu\"\n", "tpu"),
            ("[detector]\nbatch = 0\n", "detector.batch"),
            ("[detector]\nbatch = 65\n", "detector.batch"),
            ("[detector]\nbatch_wait_ms = -1\n", "detector.batch_wait_ms"),
            (
                "[detector]\ncomplete_cut_people = \"yes\"\n",
                "detector.complete_cut_people",
            ),
            (
                "[tracker]\nnoise_reference_s = \"fram\"\n",
                "tracker.noise_reference_s",
            ),
            (
                "[tracker]\nnoise_reference_s = 0\n",
                "tracker.noise_reference_s",
            ),
        ];
        for (toml, named) in cases {
            let err = parse(toml).unwrap_err();
            assert!(err.contains(named), "{toml:?}: {err}");
        }
    }

    #[test]
    fn noise_reference_is_a_frame_or_seconds() {
        use crate::track::NoiseReference;
        let read = |toml: &str| parse(toml).unwrap().tracker.noise_reference_s;
        assert_eq!(read("[tracker]\n"), NoiseReference::Frame);
        assert_eq!(
            read("[tracker]\nnoise_reference_s = \"frame\"\n"),
            NoiseReference::Frame
        );
        assert_eq!(
            read("[tracker]\nnoise_reference_s = 0.05\n"),
            NoiseReference::Seconds(0.05)
        );
    }
}
