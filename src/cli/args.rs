//! The command line's words: every subcommand's flags, and how they become a configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::detect::{Device, Tiles};
use crate::error::{Error, Result};

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Real-time object detection, tracking and forecasting on video"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Only warnings and errors on stderr; no progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect and track objects in a video, image sequence, camera or stream.
    Track(TrackArgs),
    /// Time each pipeline stage and the whole pipeline on a video.
    Bench(BenchArgs),
    /// The daemon: many cameras, one detector pool, HTTP status and metrics, MQTT events.
    Serve(ServeArgs),
    /// MOTChallenge metrics (HOTA, CLEAR, Identity) of tracker results, as TrackEval computes them.
    Eval(EvalArgs),
    /// How well look-ahead forecasts people's positions: vigil's model and baselines on
    /// MOTChallenge gt trajectories (and on vigil's own tracks with --detections).
    EvalPredict(EvalPredictArgs),
    /// Detection quality against MOTChallenge gt: precision, recall, COCO-style AP@0.5 and
    /// AP@0.5:0.95 of person detections (MOTChallenge det.txt lines).
    EvalDet(EvalDetArgs),
}

#[derive(Args, Debug)]
pub struct EvalDetArgs {
    /// Ground truth: a folder of sequences (SEQ/seqinfo.ini, SEQ/gt/gt.txt), or one sequence.
    #[arg(long)]
    pub gt: PathBuf,
    /// Detections: a folder with one SEQ.txt per sequence (frame,-1,x,y,w,h,score,...).
    #[arg(long)]
    pub res: PathBuf,
    /// Also write every figure, per sequence and combined, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pedestrians less visible than this (MOT17's visibility column) are ignored gt, neither
    /// found nor missed.
    #[arg(long, default_value_t = 0.0)]
    pub min_visibility: f64,
}

#[derive(Args, Debug)]
pub struct EvalPredictArgs {
    /// Ground truth: a folder of sequences (SEQ/seqinfo.ini, SEQ/gt/gt.txt), or one sequence.
    #[arg(long)]
    pub gt: PathBuf,
    /// Forecast horizons in seconds, comma-separated.
    #[arg(long, default_value = "0.5,1,2", allow_hyphen_values = true)]
    pub horizons: String,
    /// Also score forecasts on vigil's own tracks, from these MOTChallenge detections (relative
    /// to each sequence folder, e.g. det/det.txt).
    #[arg(long, value_name = "DET")]
    pub detections: Option<PathBuf>,
    /// With --detections: the camera's motion per frame in BoT-SORT's GMC format, relative to
    /// each sequence folder (e.g. gmc/botsort.txt); the tracker follows the camera.
    #[arg(long, value_name = "FILE")]
    pub camera_motion: Option<PathBuf>,
    /// The learned look-ahead's weights fitted elsewhere (scripts/fit_look_ahead.py --json), to
    /// judge it on sequences they never saw (scripts/eval_predict_loso.sh).
    #[arg(long, value_name = "FILE.json")]
    pub look_ahead_weights: Option<PathBuf>,
    /// Also write every figure, combined and per sequence, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Score only gt boxes at least this visible (MOT17's visibility column; 0 keeps every box
    /// MOTChallenge scores).
    #[arg(long, default_value_t = 0.0)]
    pub min_visibility: f64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The daemon's TOML configuration: [cameras.NAME] sections over global defaults
    /// (see configs/serve-*.toml).
    #[arg(long)]
    pub config: PathBuf,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Ground truth: a folder of sequences (SEQ/seqinfo.ini, SEQ/gt/gt.txt), or one sequence.
    #[arg(long)]
    pub gt: PathBuf,
    /// Results: a folder with one SEQ.txt per sequence.
    #[arg(long)]
    pub res: PathBuf,
    /// Also write every metric, per sequence and combined, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Detector and configuration options shared by every command that runs the detector.
#[derive(Args, Debug, Clone)]
pub struct DetectorArgs {
    /// ONNX detector (default: models/yolox_nano.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Class names, one a line (default: models/coco.names).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Keep only these classes, by name: --classes person,car.
    #[arg(long)]
    pub classes: Option<String>,
    /// Minimum detection score (default 0.1: the tracker uses weak boxes to bridge occlusions).
    #[arg(long)]
    pub conf: Option<f32>,
    /// NMS IoU threshold (default 0.45).
    #[arg(long)]
    pub iou: Option<f32>,
    #[arg(long, value_enum)]
    pub device: Option<Device>,
    /// Keep at most N detections a frame, the most confident (1: single-object localisation).
    #[arg(long, value_name = "N")]
    pub max_objects: Option<usize>,
    /// Run the detector on every Nth frame only; tracks are predicted in between.
    #[arg(long, value_name = "N")]
    pub detect_every: Option<u64>,
    /// Skip the detector on frames where nothing has changed since it last ran (motion gating).
    #[arg(long)]
    pub motion_gate: bool,
    /// Adaptive budget: keep the detectors under this share of the CPU (0–1) by raising
    /// --detect-every on the busiest streams first.
    #[arg(long, value_name = "SHARE")]
    pub cpu_target: Option<f64>,
    /// Detect in overlapping tiles of each frame too, for small objects: off, auto or RxC.
    #[arg(long, value_name = "auto|RxC|off")]
    pub tiles: Option<Tiles>,
    /// TOML configuration; command-line options override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TrackArgs {
    /// A video file, a MOTChallenge sequence folder, a camera index, or an rtsp/http URL.
    pub input: String,
    /// Annotated video (.mp4, .avi, .mkv).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// MOTChallenge tracks (frame,id,x,y,w,h,score,-1,-1,-1).
    #[arg(long)]
    pub mot: Option<PathBuf>,
    /// JSON Lines, one object per frame (and a line of the events of tracks ended between
    /// frames: at the end of the stream, after a camera's outage).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The detector's boxes before tracking, as a MOTChallenge det file (for `vigil eval-det`).
    #[arg(long, value_name = "OUT.txt")]
    pub dets: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Track these MOTChallenge detections instead of running the detector (INPUT is a sequence
    /// folder, or a folder of sequences with DET relative to each and --mot an output folder).
    #[arg(long, value_name = "DET")]
    pub detections: Option<PathBuf>,
    /// With --detections: the camera's motion per frame in BoT-SORT's GMC format (a file, or a
    /// path relative to each sequence, e.g. gmc/botsort.txt); tracks move with the camera.
    #[arg(long, value_name = "FILE")]
    pub camera_motion: Option<PathBuf>,
    /// Read a file or image sequence at its own frame rate, like a camera (dropping what cannot
    /// be processed in time); SPEED multiplies the rate.
    #[arg(long, value_name = "SPEED", num_args = 0..=1, default_missing_value = "1", value_parser = positive_speed)]
    pub realtime: Option<f64>,
    /// Write each frame's tracks this many seconds late, filling gaps that close meanwhile and
    /// smoothing boxes with what came after (overrides tracker.output_lag_s; 0 = online).
    #[arg(long, value_name = "SECONDS", value_parser = non_negative_seconds, allow_hyphen_values = true)]
    pub lag: Option<f64>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The video to measure on.
    pub input: String,
    /// Frames to time per stage.
    #[arg(long, default_value_t = 300)]
    pub frames: u64,
    /// End-to-end runs of the whole pipeline (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Live benchmark instead: this many copies of INPUT at once, each paced like a camera
    /// (a list runs each count in turn: --cameras 1,2,4).
    #[arg(long, value_delimiter = ',')]
    pub cameras: Option<Vec<usize>>,
    /// With --cameras: pace each copy at SPEED × the file's frame rate.
    #[arg(long, value_name = "SPEED", value_parser = positive_speed)]
    pub realtime: Option<f64>,
    /// Inference alone on batches of these sizes (--batch 1,2,4,8), one session on every core;
    /// the model needs a free batch dimension (scripts/make_batch_models.py).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch: Option<Vec<u16>>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// Runs a parsed command line; the returned code is the process's exit status.
impl Cli {
    /// Parses the process's arguments. `--help`, `--version` and a bare `vigil` print and exit;
    /// a mistake becomes an input error of one line, like every other failure.
    pub fn from_args() -> Result<Cli> {
        Cli::try_parse().map_err(|e| {
            let asked_for_help = !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            if asked_for_help {
                e.exit();
            }
            Error::input(usage_line(&e.render().to_string()))
        })
    }
}

/// clap's several-line report as one line: what it says before the usage and help hints.
fn usage_line(report: &str) -> String {
    let said: Vec<&str> = report
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let line = said.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    format!("{line} (see --help)")
}

impl DetectorArgs {
    /// Reads the config and applies the command-line overrides.
    pub fn config(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let d = &mut config.detector;
        if let Some(m) = &self.model {
            d.model = Some(m.clone());
        }
        if let Some(l) = &self.labels {
            d.labels = Some(l.clone());
        }
        if let Some(c) = &self.classes {
            d.classes = c
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        d.conf = self.conf.unwrap_or(d.conf);
        d.iou = self.iou.unwrap_or(d.iou);
        d.device = self.device.unwrap_or(d.device);
        d.max_objects = self.max_objects.unwrap_or(d.max_objects);
        d.tiles = self.tiles.unwrap_or(d.tiles);
        d.detect_every = self.detect_every.unwrap_or(d.detect_every);
        d.motion_gate.enabled |= self.motion_gate;
        d.cpu_target = self.cpu_target.unwrap_or(d.cpu_target);
        config
            .validate()
            .map_err(|e| Error::input(format!("{e} (from the options or the config)")))?;
        Ok(config)
    }
}

fn positive_speed(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.01..=1000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{text}' is not a speed (a number from 0.01 to 1000)"
        )),
    }
}

fn non_negative_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{text}' is not a number of seconds (0 or more)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_clap_report_becomes_one_line_that_keeps_what_it_names() {
        let e = Cli::try_parse_from(["vigil", "track"]).unwrap_err();
        assert_eq!(
            usage_line(&e.render().to_string()),
            "the following required arguments were not provided: <INPUT> (see --help)"
        );
        let e = Cli::try_parse_from(["vigil", "track", "x", "--lag", "-1"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(line.starts_with("invalid value '-1' for '--lag"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
