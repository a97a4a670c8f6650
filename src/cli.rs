//! The command line: parses arguments, builds and runs the requested job, and is the only place
//! that talks to the user on stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::analytics::LineTotal;
use crate::bench;
use crate::config::Config;
use crate::detect::{DetectionFilter, Device, Labels, Tiles};
use crate::error::{Error, Result};
use crate::eval::{dataset, Counts, Summary as EvalSummary};
use crate::metrics::Metrics;
use crate::offline;
use crate::pipeline::{self, Control, Pipeline, Summary};
use crate::sink::{DetectionsSink, JsonLinesSink, MotSink, Sink};
use crate::source::{self, OpenOptions, SourceInfo};
use crate::stages::{self, DetectorPool};

/// Writes a report to standard output. A reader that has gone (`vigil eval … | head`) is no
/// failure: the rest of the report is dropped and the run goes on to its other outputs; any
/// other failure to write (a full disk behind `>`) is the user's to see.
pub(crate) fn write_stdout(text: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::input(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// `println!` through `write_stdout`, returning its error with `?`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use say;

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

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Track(args) => track(args, cli.quiet),
        Command::Bench(args) => bench::run(&args),
        Command::Eval(args) => eval(&args),
        Command::Serve(args) => serve(&args),
        Command::EvalPredict(args) => eval_predict(&args),
        Command::EvalDet(args) => eval_det(&args),
    }
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

/// Opens every requested output; an unwritable path fails here, before any frame is read.
fn open_sinks(
    args: &TrackArgs,
    info: &SourceInfo,
    config: &Config,
    labels: &Arc<Labels>,
) -> Result<Vec<Box<dyn Sink>>> {
    let outputs = [
        ("-o", &args.output),
        ("--mot", &args.mot),
        ("--json", &args.json),
        ("--dets", &args.dets),
    ];
    let outputs: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(option, path)| Some((*option, path.as_deref()?)))
        .collect();
    let inputs = [
        Some(Path::new(&args.input)),
        config.detector.model.as_deref(),
        config.detector.labels.as_deref(),
        args.detector.config.as_deref(),
    ];
    crate::sink::claim_outputs(&outputs, &inputs.into_iter().flatten().collect::<Vec<_>>())?;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(path) = &args.output {
        sinks.push(Box::new(stages::annotated_video(
            path,
            info,
            &config.output,
            labels,
        )?));
    }
    if let Some(path) = &args.mot {
        sinks.push(Box::new(MotSink::create(path)?));
    }
    if let Some(path) = &args.json {
        sinks.push(Box::new(JsonLinesSink::create(path, labels.clone())?));
    }
    if let Some(path) = &args.dets {
        sinks.push(Box::new(DetectionsSink::create(path)?));
    }
    Ok(sinks)
}

fn track(args: TrackArgs, quiet: bool) -> Result<i32> {
    if let Some(detections) = &args.detections {
        return track_detections(&args, detections);
    }
    if args.camera_motion.is_some() {
        return Err(Error::input(
            "--camera-motion FILE goes with --detections (tracking given detections); video inputs have no per-frame motion file",
        ));
    }
    let mut config = args.detector.config()?;
    if let Some(lag) = args.lag {
        config.tracker.output_lag_s = lag;
    }
    if let Some(speed) = args.realtime {
        config.source.realtime = true;
        config.source.speed = speed;
    }
    source::use_transport(config.source.transport);
    let control = Arc::new(Control::default());
    let metrics = Metrics::new()?;
    let camera = metrics.camera("main");
    let source = source::open(
        &args.input,
        OpenOptions {
            stream: &config.source,
            metrics: &camera,
            stop: &control.stop,
            must_connect_first: true,
        },
    )?;
    let info = source.info().clone();
    let pool = DetectorPool::load(&config.detector)?;
    if info.width > 0 && info.height > 0 {
        pool.detectors[0].regions(info.width as usize, info.height as usize)?;
    }
    let privacy = stages::privacy(
        &config.privacy,
        &pool.labels,
        ("main", "privacy"),
        (info.width, info.height),
        args.output.is_some(),
    )?;
    let sinks = open_sinks(&args, &info, &config, &pool.labels)?;
    let pool_labels = pool.labels.clone();
    if sinks.is_empty() {
        tracing::warn!(
            "no outputs requested (-o, --mot, --json, --dets): tracking without writing anything"
        );
    }
    tracing::info!(input = %info.name, width = info.width, height = info.height, fps = info.fps, "source open");
    let mut stream = stages::stream(
        "main",
        source,
        (&config.tracker, &config.source, config.detector.schedule()),
        DetectionFilter::default(),
        sinks,
        (
            camera,
            stages::analyzer(
                &config.analytics,
                &config.tracker,
                &pool.labels,
                "analytics",
            )?,
        ),
    );
    stream.max_frames = args.max_frames;
    stream.privacy = privacy;
    let pipeline = Pipeline {
        streams: vec![stream],
        detectors: pool.detectors,
        metrics,
        report_failures: false,
        cpu_target: config.detector.cpu_target,
    };
    install_stop_handler(&control);
    let total = match (info.frame_count, args.max_frames) {
        (Some(n), Some(m)) => Some(n.min(m)),
        (n, m) => n.or(m),
    };
    let summary = run_with_progress(pipeline, &control, total, quiet)?;
    let outputs: Vec<String> = [&args.output, &args.mot, &args.json]
        .iter()
        .filter_map(|p| p.as_ref().map(|p| p.display().to_string()))
        .collect();
    say!("{}", summary_line(&info.name, &summary, &outputs));
    print_line_totals(&summary.line_totals, &pool_labels)?;
    Ok(if summary.interrupted { 130 } else { 0 })
}

/// Per line, per direction, per class: `gate in car 12`.
fn print_line_totals(totals: &[LineTotal], labels: &Labels) -> Result<()> {
    for t in totals {
        say!(
            "line {} {} {}: {}",
            t.line,
            t.direction.as_str(),
            labels.name(t.class_id),
            t.count
        );
    }
    Ok(())
}

/// Given detections run no detector and read no video: an option that steers either would be
/// silently ignored, so it is refused instead (the user meant something by it).
fn refuse_detector_options(args: &TrackArgs) -> Result<()> {
    let d = &args.detector;
    let given = [
        ("--model", d.model.is_some()),
        ("--labels", d.labels.is_some()),
        ("--classes", d.classes.is_some()),
        ("--conf", d.conf.is_some()),
        ("--iou", d.iou.is_some()),
        ("--device", d.device.is_some()),
        ("--max-objects", d.max_objects.is_some()),
        ("--motion-gate", d.motion_gate),
        ("--cpu-target", d.cpu_target.is_some()),
        ("--tiles", d.tiles.is_some()),
        ("--realtime", args.realtime.is_some()),
        ("--max-frames", args.max_frames.is_some()),
    ];
    match given.iter().find(|(_, given)| *given) {
        Some((option, _)) => Err(Error::input(format!(
            "{option} does not apply to --detections (given boxes, every frame of the sequence): leave it out"
        ))),
        None => Ok(()),
    }
}

/// `vigil track SEQ --detections DET --mot OUT [--json OUT]`: the tracker and the analytics
/// alone, on given detections.
fn track_detections(args: &TrackArgs, detections: &Path) -> Result<i32> {
    let Some(mot) = &args.mot else {
        return Err(Error::input(
            "--detections writes MOT tracks: give --mot OUT.txt (or an output folder)",
        ));
    };
    if args.output.is_some() {
        return Err(Error::input(
            "--detections has no video frames: no annotated video (-o); --mot and --json are available",
        ));
    }
    if args.dets.is_some() {
        return Err(Error::input(
            "--dets writes what the detector finds, and --detections runs no detector",
        ));
    }
    refuse_detector_options(args)?;
    let mut config = match &args.detector.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(every) = args.detector.detect_every {
        config.detector.detect_every = every;
        config
            .validate()
            .map_err(|e| Error::input(format!("{e} (from the options or the config)")))?;
    }
    if let Some(lag) = args.lag {
        config.tracker.output_lag_s = lag;
    }
    if config.tracker.camera_motion != crate::track::CameraMotion::Off
        && args.camera_motion.is_none()
    {
        tracing::warn!(
            "tracker.camera_motion is measured from the frames, and --detections has none: give the camera's motion with --camera-motion FILE"
        );
    }
    let paths = offline::Paths {
        detections,
        mot,
        json: args.json.as_deref(),
        camera_motion: args.camera_motion.as_deref(),
        config: args.detector.config.as_deref(),
    };
    let jobs = offline::plan(Path::new(&args.input), &paths)?;
    for job in jobs {
        let started = std::time::Instant::now();
        let done = offline::run(&job, &config)?;
        let seconds = started.elapsed().as_secs_f64();
        say!(
            "{}: {} frames in {seconds:.3} s ({:.0} fps), {} tracks → {}",
            job.seq_dir.display(),
            done.frames,
            done.frames as f64 / seconds.max(1e-9),
            done.tracks,
            job.output.display()
        );
        print_line_totals(&done.line_totals, &offline::pedestrians())?;
    }
    Ok(0)
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

pub fn summary_line(input: &str, s: &Summary, outputs: &[String]) -> String {
    let mut line = format!(
        "{input}: {} frames in {:.2} s ({:.1} fps), {} tracks",
        s.frames,
        s.seconds,
        s.fps(),
        s.tracks
    );
    if s.dropped > 0 {
        line += &format!(", {} frames dropped to keep up", s.dropped);
    }
    if s.interrupted {
        line += ", interrupted";
    }
    if !outputs.is_empty() {
        line += &format!(" → {}", outputs.join(", "));
    }
    line
}

/// The first Ctrl-C or SIGTERM ends the stream cleanly (outputs are finalised); a second one
/// exits at once.
fn install_stop_handler(control: &Arc<Control>) {
    let control = control.clone();
    let result = ctrlc::set_handler(move || {
        if control.stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        tracing::warn!("stopping: finishing outputs (press Ctrl-C again to abort)");
    });
    if let Err(e) = result {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
}

/// Runs a one-stream pipeline; its summary, or the error that stopped it.
fn run_one(pipeline: Pipeline, control: &Arc<Control>) -> Result<Summary> {
    let outcome = pipeline
        .run(control.clone())?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("the pipeline had no stream"))?;
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(outcome.summary),
    }
}

fn run_with_progress(
    pipeline: Pipeline,
    control: &Arc<Control>,
    total: Option<u64>,
    quiet: bool,
) -> Result<Summary> {
    let show = !quiet && std::io::stderr().is_terminal();
    if !show {
        return run_one(pipeline, control);
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {fps}  ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key(
                "fps",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} fps", s.per_sec());
                },
            ),
    );
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (control, done, bar) = (control.clone(), done.clone(), bar.clone());
        std::thread::spawn(move || pipeline::watch(&control, &done, |n| bar.set_position(n)))
    };
    let result = run_one(pipeline, control);
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    bar.finish_and_clear();
    result
}

fn serve(args: &ServeArgs) -> Result<i32> {
    let config = crate::serve::ServeConfig::load(&args.config)?;
    source::use_transport(config.transport());
    let control = Arc::new(Control::default());
    install_stop_handler(&control);
    crate::serve::run(config, control)
}

fn eval(args: &EvalArgs) -> Result<i32> {
    let per_seq = dataset::evaluate_all(&args.gt, &args.res)?;
    let all: Vec<Counts> = per_seq.iter().map(|(_, c)| c.clone()).collect();
    let combined = Counts::combine(&all);
    let mut rows: Vec<(String, EvalSummary)> = per_seq
        .iter()
        .map(|(n, c)| (n.clone(), c.summary()))
        .collect();
    rows.push(("COMBINED".into(), combined.summary()));
    say!(
        "{:<16} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>5}",
        "sequence",
        "HOTA",
        "DetA",
        "AssA",
        "LocA",
        "MOTA",
        "MOTP",
        "IDF1",
        "IDSW",
        "Frag",
        "MT",
        "PT",
        "ML"
    );
    for (name, s) in &rows {
        let pct = |v: f64| format!("{:.3}", v * 100.0);
        say!(
            "{:<16} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>5}",
            name,
            pct(s.hota),
            pct(s.det_a),
            pct(s.ass_a),
            pct(s.loc_a),
            pct(s.mota),
            pct(s.motp),
            pct(s.idf1),
            s.idsw,
            s.frag,
            s.mt,
            s.pt,
            s.ml
        );
    }
    if let Some(path) = &args.json {
        let sequences: std::collections::BTreeMap<&str, _> =
            rows.iter().map(|(n, s)| (n.as_str(), s)).collect();
        write_json_report(path, &sequences)?;
    }
    Ok(0)
}

/// Writes an evaluation's figures as pretty JSON, failing with a line that names the file.
fn write_json_report(path: &std::path::Path, report: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))
}

fn eval_predict(args: &EvalPredictArgs) -> Result<i32> {
    let horizons = crate::eval::forecasts::parse_horizons(&args.horizons)
        .map_err(|e| Error::input(format!("--horizons: {e}")))?;
    if !(0.0..=1.0).contains(&args.min_visibility) {
        return Err(Error::input(format!(
            "--min-visibility {} must be within [0, 1]",
            args.min_visibility
        )));
    }
    let report = crate::eval::forecasts::evaluate(
        &args.gt,
        &horizons,
        args.detections.as_deref(),
        args.min_visibility,
    )?;
    write_stdout(format_args!("{}", crate::eval::forecasts::table(&report)))?;
    if let Some(path) = &args.json {
        write_json_report(path, &report)?;
    }
    Ok(0)
}

fn eval_det(args: &EvalDetArgs) -> Result<i32> {
    if !(0.0..=1.0).contains(&args.min_visibility) {
        return Err(Error::input(format!(
            "--min-visibility {} must be within [0, 1]",
            args.min_visibility
        )));
    }
    let matches = dataset::match_detections_all(&args.gt, &args.res, args.min_visibility)?;
    let rows = crate::eval::detections::report(&matches);
    write_stdout(format_args!("{}", crate::eval::detections::table(&rows)))?;
    if let Some(path) = &args.json {
        let by_name: std::collections::BTreeMap<&str, _> =
            rows.iter().map(|(n, s)| (n.as_str(), s)).collect();
        write_json_report(path, &by_name)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
