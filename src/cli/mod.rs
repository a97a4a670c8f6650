//! The command line: parses arguments, builds and runs the requested job, and is the only place
//! that talks to the user on stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::analytics::LineTotal;
use crate::assemble::{self, CameraSpec, Prepared};
use crate::config::Config;
use crate::detect::Labels;
use crate::error::{Error, Result};
use crate::eval::{dataset, Counts, Summary as EvalSummary};
use crate::offline;
use crate::pipeline::{self, Control, Summary};
use crate::source;

mod args;
mod bench;
pub(crate) mod report;

pub use args::*;
use report::{say, write_stdout};

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
    let mut spec = CameraSpec::from_config("main", &args.input, &config);
    spec.max_frames = args.max_frames;
    spec.outputs.video = args.output.clone();
    spec.outputs.mot = args.mot.clone();
    spec.outputs.json = args.json.clone();
    spec.outputs.dets = args.dets.clone();
    spec.outputs.inputs = [
        Some(PathBuf::from(&args.input)),
        config.detector.model.clone(),
        config.detector.labels.clone(),
        args.detector.config.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let control = Arc::new(Control::default());
    let prepared = assemble::prepare(&config.detector, std::slice::from_ref(&spec), &control.stop)?;
    let (labels, info) = (prepared.labels.clone(), prepared.infos[0].clone());
    if spec.outputs.is_empty() {
        tracing::warn!(
            "no outputs requested (-o, --mot, --json, --dets): tracking without writing anything"
        );
    }
    tracing::info!(input = %info.name, width = info.width, height = info.height, fps = info.fps, "source open");
    install_stop_handler(&control);
    let total = match (info.frame_count, args.max_frames) {
        (Some(n), Some(m)) => Some(n.min(m)),
        (n, m) => n.or(m),
    };
    let summary = run_with_progress(prepared, &control, total, quiet)?;
    let outputs: Vec<String> = [&args.output, &args.mot, &args.json]
        .iter()
        .filter_map(|p| p.as_ref().map(|p| p.display().to_string()))
        .collect();
    say!("{}", summary_line(&info.name, &summary, &outputs));
    print_line_totals(&summary.line_totals, &labels)?;
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

/// Runs one prepared camera; its summary, or the error that stopped it.
fn run_one(prepared: Prepared, control: &Arc<Control>) -> Result<Summary> {
    let outcome = pipeline::run_all(prepared.pool, prepared.streams, control)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("the pipeline had no stream"))?;
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(outcome.summary),
    }
}

fn run_with_progress(
    pipeline: Prepared,
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
    // The daemon listens for its own signals (SIGHUP reloads it).
    crate::serve::run(config, &args.config, Arc::new(Control::default()))
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
    if args.camera_motion.is_some() && args.detections.is_none() {
        return Err(Error::input(
            "--camera-motion FILE goes with --detections (it moves vigil's tracker with the camera)",
        ));
    }
    let weights = match &args.look_ahead_weights {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::input(format!("--look-ahead-weights '{}': {e}", path.display()))
            })?;
            let fitted = crate::predict::LookAheadWeights::from_json(&text).map_err(|e| {
                Error::input(format!("--look-ahead-weights '{}': {e}", path.display()))
            })?;
            Some(std::sync::Arc::new(fitted))
        }
    };
    let report = crate::eval::forecasts::evaluate(
        &args.gt,
        &horizons,
        args.detections
            .as_deref()
            .map(|d| (d, args.camera_motion.as_deref())),
        args.min_visibility,
        weights,
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
