//! `vigil bench`: per-stage cost (each stage timed alone, in sequence) and end-to-end throughput
//! of the threaded pipeline on the same video.

use std::sync::Arc;
use std::time::Instant;

use crate::cli::{annotated_video, BenchArgs};
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameMeta, TrackedFrame};
use crate::pipeline::{Control, Pipeline};
use crate::preprocess::Preprocessor;
use crate::sink::Sink;
use crate::source;
use crate::track::Tracker;

const STAGES: [&str; 7] = [
    "decode",
    "preprocess",
    "inference",
    "decode+nms",
    "tracking",
    "drawing",
    "encoding",
];

pub fn run(args: &BenchArgs) -> Result<i32> {
    let scratch = std::env::temp_dir().join(format!("vigil-bench-{}.mp4", std::process::id()));
    let result = measure(args, &scratch);
    let _ = std::fs::remove_file(&scratch);
    result
}

fn measure(args: &BenchArgs, scratch: &std::path::Path) -> Result<i32> {
    let samples = time_stages(args, scratch)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "per-stage cost, {} frames of {}, one frame at a time ({cores} cores):",
        samples[0].len(),
        args.input
    );
    println!("{:<12} {:>10} {:>10}", "stage", "median ms", "p95 ms");
    let mut total = 0.0;
    for (name, mut s) in STAGES.iter().zip(samples) {
        s.sort_by(f64::total_cmp);
        let (median, p95) = (percentile(&s, 0.5), percentile(&s, 0.95));
        total += median;
        println!("{name:<12} {median:>10.3} {p95:>10.3}");
    }
    println!(
        "{:<12} {total:>10.3}   (≈ {:.0} fps on one core, {:.0} fps ceiling on {cores})",
        "sum",
        1000.0 / total,
        1000.0 * cores as f64 / total
    );

    let mut fps = Vec::new();
    for run in 1..=args.runs {
        let setup = args.detector.setup()?;
        let source = source::open(&args.input)?;
        let info = source.info().clone();
        let sink = annotated_video(scratch, &info, &setup)?;
        let pipeline = Pipeline {
            source,
            input_spec: setup.detectors[0].input_spec(),
            detectors: setup.detectors,
            tracker: Tracker::new(setup.config.tracker.clone()),
            sinks: vec![Box::new(sink)],
            max_frames: None,
        };
        let workers = pipeline.detectors.len();
        let summary = pipeline.run(Arc::new(Control::default()))?;
        println!("end-to-end run {run}: {} frames in {:.2} s = {:.1} fps ({workers} inference workers, annotated mp4 out)", summary.frames, summary.seconds, summary.fps());
        fps.push(summary.fps());
    }
    if !fps.is_empty() {
        fps.sort_by(f64::total_cmp);
        println!("end-to-end median: {:.1} fps", percentile(&fps, 0.5));
    }
    Ok(0)
}

/// Runs each stage on one frame after another, timing each in isolation.
fn time_stages(args: &BenchArgs, scratch: &std::path::Path) -> Result<Vec<Vec<f64>>> {
    let mut setup = args.detector.setup()?;
    let mut source = source::open(&args.input)?;
    let info = source.info().clone();
    let mut detector = setup.detectors.swap_remove(0);
    let mut pre = Preprocessor::new(detector.input_spec());
    let mut tracker = Tracker::new(setup.config.tracker.clone());
    let mut video = annotated_video(scratch, &info, &setup)?;
    let mut samples = vec![Vec::new(); STAGES.len()];
    let mut clock = Instant::now();
    let mut lap = |samples: &mut Vec<Vec<f64>>, stage: usize| {
        let now = Instant::now();
        samples[stage].push((now - clock).as_secs_f64() * 1000.0);
        clock = now;
    };
    for seq in 0..args.frames {
        let Some(raw) = source.next_frame()? else {
            break;
        };
        lap(&mut samples, 0);
        let (tensor, letterbox) = pre.run(&raw.image)?;
        lap(&mut samples, 1);
        let output = detector.infer(&tensor)?;
        lap(&mut samples, 2);
        let detections = detector.postprocess(&output, &letterbox);
        lap(&mut samples, 3);
        let tracks = tracker.update(&detections, raw.pts_ms / 1000.0);
        lap(&mut samples, 4);
        let meta = FrameMeta {
            seq,
            number: raw.index + 1,
            pts_ms: raw.pts_ms,
            captured_at: Instant::now(),
        };
        let tracked = TrackedFrame {
            frame: Frame {
                meta,
                image: raw.image,
            },
            tracks,
            events: Vec::new(),
        };
        let canvas = video.annotate(&tracked)?;
        lap(&mut samples, 5);
        video.encode(&canvas)?;
        lap(&mut samples, 6);
    }
    video.finish()?;
    if samples[0].is_empty() {
        return Err(Error::input(format!(
            "input '{}': no frames to measure",
            args.input
        )));
    }
    Ok(samples)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
