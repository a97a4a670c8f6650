//! `vigil bench`: per-stage cost (each stage timed alone, in sequence) and end-to-end throughput
//! of the threaded pipeline on the same video.

use std::sync::Arc;
use std::time::Instant;

use super::args::BenchArgs;
use super::report::say;
use crate::assemble::{self, CameraSpec, Detectors, Prepared};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameMeta, TrackedFrame};
use crate::geom::Affine;
use crate::metrics::{CameraMetrics, Metrics};
use crate::motion::{MotionConfig, MotionEstimator};
use crate::pipeline::{self, Control, Summary};
use crate::preprocess::Preprocessor;
use crate::sink::{Sink, VideoSink};
use crate::source::{self, FrameSource, OpenOptions};
use crate::track::{CameraMotion, Tracker};

const STAGES: [&str; 8] = [
    "decode",
    "preprocess",
    "inference",
    "decode+nms",
    "tracking",
    "drawing",
    "encoding",
    "cam motion",
];
/// The stage timed only with `tracker.camera_motion` on (or auto: here measured on every frame).
const CAMERA_MOTION_STAGE: usize = 7;

pub fn run(args: &BenchArgs) -> Result<i32> {
    let scratch = std::env::temp_dir().join(format!("vigil-bench-{}.mp4", std::process::id()));
    let result = measure(args, &scratch);
    let _ = std::fs::remove_file(&scratch);
    result
}

fn measure(args: &BenchArgs, scratch: &std::path::Path) -> Result<i32> {
    if let Some(cameras) = &args.cameras {
        return measure_live(args, cameras);
    }
    if let Some(sizes) = &args.batch {
        let sizes: Vec<usize> = sizes.iter().map(|&n| usize::from(n)).collect();
        return measure_batches(args, &sizes);
    }
    let samples = time_stages(args, scratch)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    say!(
        "per-stage cost, {} frames of {}, one frame at a time ({cores} cores):",
        samples[0].len(),
        args.input
    );
    say!("{:<12} {:>10} {:>10}", "stage", "median ms", "p95 ms");
    let mut total = 0.0;
    for (name, mut s) in STAGES.iter().zip(samples) {
        if s.is_empty() {
            continue; // a stage this configuration does not run
        }
        s.sort_by(f64::total_cmp);
        let (median, p95) = (percentile(&s, 0.5), percentile(&s, 0.95));
        total += median;
        say!("{name:<12} {median:>10.3} {p95:>10.3}");
    }
    say!(
        "{:<12} {total:>10.3}   (≈ {:.0} fps on one core, {:.0} fps ceiling on {cores})",
        "sum",
        1000.0 / total,
        1000.0 * cores as f64 / total
    );

    let config = args.detector.config()?;
    let mut fps = Vec::new();
    for run in 1..=args.runs {
        let mut spec = CameraSpec::from_config("bench", &args.input, &config);
        spec.outputs.video = Some(scratch.to_path_buf());
        let control = Arc::new(Control::default());
        let prepared = assemble::prepare(&config.detector, &[spec], &control.stop)?;
        let workers = prepared.pool.workers();
        let counts = prepared.metrics.cameras();
        let summary = run_streams(prepared, &control)?.swap_remove(0);
        say!("end-to-end run {run}: {} frames in {:.2} s = {:.1} fps ({workers} inference workers, annotated mp4 out; {})", summary.frames, summary.seconds, summary.fps(), detector_share(&counts));
        fps.push(summary.fps());
    }
    if !fps.is_empty() {
        fps.sort_by(f64::total_cmp);
        say!("end-to-end median: {:.1} fps", percentile(&fps, 0.5));
    }
    Ok(0)
}

/// `--live`: N copies of the input, each paced like a camera at `--realtime` × its frame rate,
/// through one shared detector pool; per camera count, throughput, drops and capture-to-output
/// latency. The latency bound a live stream should keep is three frame intervals (the newest frame
/// waits at most one for a worker) plus one processing time, measured in the same run, under the
/// same load: the mean preprocess + inference + tracking time of a frame.
fn measure_live(args: &BenchArgs, cameras: &[usize]) -> Result<i32> {
    let mut config = args.detector.config()?;
    config.source.realtime = true;
    config.source.speed = args.realtime.unwrap_or(1.0);
    say!(
        "live: {} paced at {}× its frame rate per camera, MOT output, one shared detector pool",
        args.input,
        config.source.speed
    );
    say!(
        "{:>7} {:>4} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "cameras",
        "run",
        "captured",
        "processed",
        "dropped",
        "fps(all)",
        "lat p50",
        "lat p99",
        "lat max",
        "proc",
        "bound"
    );
    for &n in cameras {
        for run in 1..=args.runs {
            let control = Arc::new(Control::default());
            let specs: Vec<CameraSpec> = (0..n)
                .map(|c| {
                    let mut spec =
                        CameraSpec::from_config(&format!("cam{c}"), &args.input, &config);
                    spec.outputs.mot = Some(
                        std::env::temp_dir()
                            .join(format!("vigil-bench-{}-{c}.txt", std::process::id())),
                    );
                    spec
                })
                .collect();
            let prepared = assemble::prepare(&config.detector, &specs, &control.stop)?;
            let interval_s = prepared
                .infos
                .last()
                .map_or(f64::NAN, |info| 1.0 / (info.fps * config.source.speed));
            let metrics = prepared.metrics.clone();
            let summaries = run_streams(prepared, &control)?;
            let processing_ms = ["preprocess", "inference", "tracking"]
                .iter()
                .map(|stage| metrics.stage_mean_s(stage).unwrap_or(f64::NAN))
                .sum::<f64>()
                * 1000.0;
            let bound_ms = 3.0 * interval_s * 1000.0 + processing_ms;
            let mut latency: Vec<f64> = summaries
                .iter()
                .flat_map(|s| s.latency_ms.iter().map(|&v| v as f64))
                .collect();
            latency.sort_by(f64::total_cmp);
            let sum = |f: fn(&Summary) -> u64| summaries.iter().map(f).sum::<u64>();
            let seconds = summaries.iter().map(|s| s.seconds).fold(0.0, f64::max);
            let processed = sum(|s| s.frames);
            let pct = |q| {
                if latency.is_empty() {
                    f64::NAN
                } else {
                    percentile(&latency, q)
                }
            };
            let per_camera = summaries.iter().map(|s| s.frames);
            let fairness = format!(
                "processed {}..{}; {}",
                per_camera.clone().min().unwrap_or(0),
                per_camera.max().unwrap_or(0),
                detector_share(&metrics.cameras())
            );
            say!(
                "{n:>7} {run:>4} {:>9} {processed:>9} {:>8} {:>9.1} {:>7.1}ms {:>7.1}ms {:>7.1}ms {processing_ms:>7.1}ms {bound_ms:>7.1}ms  {fairness}",
                sum(|s| s.captured),
                sum(|s| s.dropped),
                processed as f64 / seconds.max(1e-9),
                pct(0.5),
                pct(0.99),
                pct(1.0)
            );
        }
    }
    Ok(0)
}

/// What the detector saw of the frames, and why it skipped the others (`detect_every`, motion
/// gating).
fn detector_share(cameras: &[CameraMetrics]) -> String {
    let [mut detected, mut budget, mut gated] = [0; 3];
    for c in cameras {
        let [d, b, g] = c.detection_counts();
        (detected, budget, gated) = (detected + d, budget + b, gated + g);
    }
    let all = (detected + budget + gated).max(1) as f64;
    format!(
        "detector on {:.0} % of frames, {:.0} % skipped by budget, {:.0} % by motion gating",
        100.0 * detected as f64 / all,
        100.0 * budget as f64 / all,
        100.0 * gated as f64 / all
    )
}

/// `--batch 1,2,4,8`: the network alone on batches of N frames of INPUT (preprocessed, stacked),
/// in one session that uses every core, as a GPU or a throughput server would run it; the median
/// time of a batch and the frames per second it gives.
fn measure_batches(args: &BenchArgs, sizes: &[usize]) -> Result<i32> {
    let mut config = args.detector.config()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (config.detector.workers, config.detector.threads) = (1, cores);
    let mut pool = Detectors::load(&config.detector)?;
    let mut detector = pool.detectors.swap_remove(0);
    let control = Arc::new(Control::default());
    let metrics = Metrics::new()?;
    let mut source = open_input(&args.input, &config, &metrics.camera("bench"), &control)?;
    let mut pre = Preprocessor::new(detector.input_spec());
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let mut frames = Vec::new();
    while frames.len() < largest {
        let Some(raw) = source.next_frame()? else {
            break;
        };
        frames.push(pre.run(&raw.image)?.0);
    }
    if frames.is_empty() {
        return Err(Error::input(format!("{}: no frame to batch", args.input)));
    }
    say!(
        "batched inference, one session on {cores} cores, {} (median of the runs):",
        detector.device().name()
    );
    say!(
        "{:>5} {:>5} {:>10} {:>10} {:>9}",
        "batch",
        "runs",
        "ms/batch",
        "frames/s",
        "vs 1"
    );
    let mut single_fps = None;
    for &n in sizes {
        let views: Vec<_> = (0..n).map(|i| frames[i % frames.len()].view()).collect();
        let batch = ndarray::concatenate(ndarray::Axis(0), &views)
            .map_err(|e| Error::internal(format!("batch of {n}: {e}")))?;
        detector.infer(&batch).map_err(|e| fixed_batch(n, e))?; // warm-up, and the check
        let runs = (args.frames as usize / n).max(5);
        let mut ms: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                detector
                    .infer(&batch)
                    .map(|_| started.elapsed().as_secs_f64() * 1000.0)
            })
            .collect::<Result<_>>()?;
        ms.sort_by(f64::total_cmp);
        let median = percentile(&ms, 0.5);
        let fps = n as f64 * 1000.0 / median;
        let ratio = fps / *single_fps.get_or_insert(fps);
        say!("{n:>5} {runs:>5} {median:>10.2} {fps:>10.1} {ratio:>8.2}×");
    }
    Ok(0)
}

/// A batch the model refuses: the shared exports take exactly one image.
fn fixed_batch(n: usize, e: Error) -> Error {
    if n == 1 {
        return e;
    }
    Error::input(format!(
        "--batch {n}: the model takes a fixed batch of 1 ({}); scripts/make_batch_models.py makes a copy whose batch is free",
        e.to_string().lines().next().unwrap_or("")
    ))
}

fn open_input(
    input: &str,
    config: &Config,
    camera: &CameraMetrics,
    control: &Arc<Control>,
) -> Result<Box<dyn FrameSource>> {
    source::open(
        input,
        OpenOptions {
            stream: &config.source,
            metrics: camera,
            stop: &control.stop,
            must_connect_first: true,
        },
    )
}

/// Runs the prepared cameras; the first error of any stream fails the benchmark.
fn run_streams(prepared: Prepared, control: &Arc<Control>) -> Result<Vec<Summary>> {
    pipeline::run_all(prepared.pool, prepared.streams, control)?
        .into_iter()
        .map(|o| match o.error {
            Some(e) => Err(e),
            None => Ok(o.summary),
        })
        .collect()
}

/// Runs each stage on one frame after another, timing each in isolation.
fn time_stages(args: &BenchArgs, scratch: &std::path::Path) -> Result<Vec<Vec<f64>>> {
    let config = args.detector.config()?;
    let mut pool = Detectors::load(&config.detector)?;
    let control = Arc::new(Control::default());
    let metrics = Metrics::new()?;
    let mut source = open_input(&args.input, &config, &metrics.camera("bench"), &control)?;
    let info = source.info().clone();
    let mut detector = pool.detectors.swap_remove(0);
    let mut pre = Preprocessor::new(detector.input_spec());
    let mut tracker = Tracker::new(config.tracker.clone(), info.fps);
    let (w, h, trail) = (info.width, info.height, config.output.trail_length);
    let mut video = VideoSink::create(scratch, w, h, info.fps, pool.labels.clone(), trail)?;
    let mut samples = vec![Vec::new(); STAGES.len()];
    let mut follow = (config.tracker.camera_motion != CameraMotion::Off)
        .then(|| MotionEstimator::new(MotionConfig::default()));
    let mut last_boxes = Vec::new();
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
        let camera = match follow.as_mut() {
            Some(estimator) => {
                let moved = estimator.estimate(&raw.image, &last_boxes)?;
                lap(&mut samples, CAMERA_MOTION_STAGE);
                moved.or_identity_below_noise(info.width as f64, info.height as f64)
            }
            None => Affine::IDENTITY,
        };
        let (tensor, letterbox) = pre.run(&raw.image)?;
        lap(&mut samples, 1);
        let output = detector.infer(&tensor)?;
        lap(&mut samples, 2);
        let detections = detector.postprocess(&output, &letterbox)?;
        lap(&mut samples, 3);
        let tracks = tracker.update_moved(&detections, raw.pts_ms / 1000.0, &camera);
        lap(&mut samples, 4);
        last_boxes = tracks.iter().map(|t| t.bbox).collect();
        let meta = FrameMeta {
            seq,
            number: raw.index + 1,
            pts_ms: raw.pts_ms,
            captured_at: Instant::now(),
            camera,
            plan: Default::default(),
        };
        let tracked = TrackedFrame {
            frame: Frame::unbudgeted(meta, raw.image),
            detections,
            detected: true,
            unchanged: false,
            tracks,
            events: Vec::new(),
            scene: Default::default(),
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
