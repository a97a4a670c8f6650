//! Tracking from given detections (MOTChallenge `det.txt`) instead of running the detector: the
//! way trackers are compared on benchmarks. Frame times come from the sequence's frame rate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opencv::core::Mat;

use crate::analytics::{Analyzer, LineTotal};
use crate::config::Config;
use crate::detect::Labels;
use crate::error::{Context, Error, Result};
use crate::frame::{Detection, EndReason, Frame, FrameMeta, Track, TrackedFrame};
use crate::geom::Affine;
use crate::motchallenge::{parse_camera_motion, parse_detections, sequence_dirs, SeqInfo};
use crate::pipeline::core::{FrameCore, Held};
use crate::pipeline::detected;
use crate::privacy::Privacy;
use crate::sink::{JsonLinesSink, MotSink, Sink};
use crate::track::{Tracker, TrackerConfig};

/// A sequence's camera motion file (BoT-SORT's GMC format): the camera's motion into each frame,
/// motions within the estimate's noise taken as none.
pub fn load_camera_motion(path: &Path, info: &SeqInfo) -> Result<Vec<Affine>> {
    let text = std::fs::read_to_string(path)
        .input_err(|| format!("camera motion '{}'", path.display()))?;
    let maps = parse_camera_motion(&text, info.length)
        .map_err(|e| Error::input(format!("'{}' {e}", path.display())))?;
    let (w, h) = (info.width as f64, info.height as f64);
    Ok(maps
        .into_iter()
        .map(|m| m.or_identity_below_noise(w, h))
        .collect())
}

/// Tracks every frame `1..=length`; `detections[i]` are frame `i + 1`'s, and `camera[i]` (if
/// given) the camera's motion into frame `i + 1`. Under `detect_every` N, only every Nth
/// frame's detections are used, as if the detector had skipped the others. The tracks of every
/// frame, after the configured output lag. Pure.
pub fn track_frames(
    detections: &[Vec<Detection>],
    (length, fps): (u64, f64),
    camera: Option<&[Affine]>,
    (config, detect_every): (&TrackerConfig, u64),
) -> Vec<Vec<Track>> {
    let mut tracker = Tracker::new(config.clone(), fps);
    let mut lag = config.fixed_lag::<()>();
    let mut out = Vec::with_capacity(length as usize);
    for i in 0..length as usize {
        let time_s = frame_time_s(i, fps);
        let moved = camera.and_then(|c| c.get(i)).unwrap_or(&Affine::IDENTITY);
        let tracks = step(&mut tracker, detections, (i, time_s, moved), detect_every);
        out.extend(
            lag.push(time_s, (), tracks, moved)
                .into_iter()
                .map(|(_, t)| t),
        );
    }
    out.extend(lag.finish().into_iter().map(|(_, t)| t));
    out
}

/// When frame `i` (from 0) of a sequence at `fps` was taken, seconds: the one formula of every
/// offline run. To the last bit: the tracker's coasting compares times for equality and against
/// `coast_s`, and a second formula (`i × 1000 / fps / 1000`, one rounding more) once coasted other
/// frames in `vigil track --detections` than in `eval-predict`.
fn frame_time_s(i: usize, fps: f64) -> f64 {
    i as f64 / fps
}

/// Frame `i`'s tracks: from its detections when the detector would have looked at it under
/// `detect_every`, from the tracker's prediction otherwise.
fn step(
    tracker: &mut Tracker,
    detections: &[Vec<Detection>],
    (i, time_s, moved): (usize, f64, &Affine),
    detect_every: u64,
) -> Vec<Track> {
    if detected(i as u64, detect_every) {
        let frame = detections.get(i).map_or(&[][..], Vec::as_slice);
        tracker.update_moved(frame, time_s, moved)
    } else {
        tracker.carry(time_s, moved)
    }
}

/// One sequence to track: where it is, its detections file, and where its tracks go.
pub struct Job {
    /// The configuration file the run reads, if any: an input no output may overwrite.
    pub config: Option<PathBuf>,
    pub seq_dir: PathBuf,
    pub detections: PathBuf,
    pub output: PathBuf,
    /// JSON Lines with events and the analytics, if asked for.
    pub json: Option<PathBuf>,
    /// The camera's motion per frame (BoT-SORT's GMC format), if given.
    pub camera_motion: Option<PathBuf>,
}

/// What `vigil track … --detections` reads and writes besides the sequences: paths as given
/// for one sequence, relative to each sequence (inputs) or folders receiving `SEQ.*` (outputs)
/// for a folder of sequences.
pub struct Paths<'a> {
    pub detections: &'a Path,
    pub mot: &'a Path,
    pub json: Option<&'a Path>,
    pub camera_motion: Option<&'a Path>,
    pub config: Option<&'a Path>,
}

/// The jobs for `vigil track INPUT --detections DET --mot OUT [--json JSON]`: one sequence folder
/// (DET as given, or relative to the folder), or a folder of sequences (DET relative to each, OUT
/// and JSON folders that receive `SEQ.txt` and `SEQ.jsonl`).
pub fn plan(input: &Path, paths: &Paths) -> Result<Vec<Job>> {
    let Paths {
        detections,
        mot: output,
        json,
        camera_motion,
        config,
    } = *paths;
    if input.join("seqinfo.ini").is_file() {
        let given_or_inside = |p: &Path| {
            if p.is_file() {
                p.to_path_buf()
            } else {
                input.join(p)
            }
        };
        return Ok(vec![Job {
            config: config.map(Path::to_path_buf),
            seq_dir: input.to_path_buf(),
            detections: given_or_inside(detections),
            output: output.to_path_buf(),
            json: json.map(Path::to_path_buf),
            camera_motion: camera_motion.map(given_or_inside),
        }]);
    }
    let seqs = sequence_dirs(input, "seqinfo.ini")?;
    for dir in std::iter::once(output).chain(json) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::input(format!("cannot create '{}': {e}", dir.display())))?;
    }
    Ok(seqs
        .into_iter()
        .map(|seq| {
            let name = seq
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Job {
                config: config.map(Path::to_path_buf),
                detections: seq.join(detections),
                output: output.join(format!("{name}.txt")),
                json: json.map(|j| j.join(format!("{name}.jsonl"))),
                camera_motion: camera_motion.map(|c| seq.join(c)),
                seq_dir: seq,
            }
        })
        .collect())
}

/// What one job did.
pub struct JobSummary {
    pub frames: u64,
    /// Distinct track ids.
    pub tracks: usize,
    pub line_totals: Vec<LineTotal>,
}

/// The class names of MOTChallenge detections: every box is a pedestrian.
pub fn pedestrians() -> Arc<Labels> {
    Arc::new(Labels::parse("person").unwrap_or_else(|_| Labels::numbered(1)))
}

/// Runs one job with the tracker and analytics of `config`.
pub fn run(job: &Job, config: &Config) -> Result<JobSummary> {
    let info = SeqInfo::load(&job.seq_dir)?;
    let text = std::fs::read_to_string(&job.detections)
        .input_err(|| format!("detections '{}'", job.detections.display()))?;
    let detections = parse_detections(&text, info.length)
        .map_err(|e| Error::input(format!("'{}' {e}", job.detections.display())))?;
    let camera = job
        .camera_motion
        .as_ref()
        .map(|path| load_camera_motion(path, &info))
        .transpose()?;
    let labels = pedestrians();
    let analyzer = Analyzer::new(
        &config.analytics,
        &labels,
        config.tracker.lost_timeout_s,
        "analytics",
    )
    .map_err(|e| Error::input(format!("config: {e}")))?;
    let detect_every = config.detector.detect_every;
    let outputs: Vec<(&str, &Path)> = std::iter::once(("--mot", job.output.as_path()))
        .chain(job.json.as_deref().map(|j| ("--json", j)))
        .collect();
    let seqinfo = job.seq_dir.join("seqinfo.ini");
    let inputs: Vec<&Path> = [job.detections.as_path(), seqinfo.as_path()]
        .into_iter()
        .chain(job.camera_motion.as_deref())
        .chain(job.config.as_deref())
        .collect();
    crate::sink::claim_outputs(&outputs, &inputs)?;
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(MotSink::create(&job.output)?)];
    if let Some(path) = &job.json {
        sinks.push(Box::new(JsonLinesSink::create(path, labels.clone())?));
    }
    let fps = info.frame_rate;
    let mut tracker = Tracker::new(config.tracker.clone(), fps);
    // The same lag, analytics and output rules as a live stream (no pictures to hide here).
    let mut core = FrameCore::new(
        config.tracker.fixed_lag(),
        Privacy::default(),
        analyzer,
        "main",
    );
    let mut ids = std::collections::HashSet::new();
    let mut write = |frames: Vec<TrackedFrame>, sinks: &mut Vec<Box<dyn Sink>>| -> Result<()> {
        for frame in frames {
            ids.extend(frame.tracks.iter().map(|t| t.id));
            for sink in sinks.iter_mut() {
                sink.write(&frame)?;
            }
        }
        Ok(())
    };
    for i in 0..info.length as usize {
        let moved = camera
            .as_deref()
            .and_then(|c| c.get(i))
            .unwrap_or(&Affine::IDENTITY);
        let time_s = frame_time_s(i, fps);
        let meta = FrameMeta {
            seq: i as u64,
            number: i as u64 + 1,
            pts_ms: time_s * 1000.0,
            captured_at: std::time::Instant::now(),
            camera: *moved,
            plan: Default::default(),
        };
        let tracks = step(&mut tracker, &detections, (i, time_s, moved), detect_every);
        let held = Held {
            frame: Frame::unbudgeted(meta, Mat::default()),
            detections: detected(i as u64, detect_every)
                .then(|| detections.get(i).cloned().unwrap_or_default()),
            unchanged: false,
            unseen: Vec::new(),
        };
        write(core.push(held, tracks, moved), &mut sinks)?;
    }
    write(core.flush(), &mut sinks)?;
    let last_ms = frame_time_s(info.length.saturating_sub(1) as usize, fps) * 1000.0;
    let end = core.end_all(EndReason::Stream, last_ms);
    for sink in &mut sinks {
        sink.write_end(&end)?;
        sink.finish()?;
    }
    Ok(JobSummary {
        frames: info.length,
        tracks: ids.len(),
        line_totals: core.totals(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::BBox;

    #[test]
    fn with_a_lag_a_short_gap_is_filled_and_every_frame_is_still_there() {
        let det = |x: f32| Detection {
            bbox: BBox::new(x, 0.0, x + 10.0, 20.0),
            score: 0.9,
            class_id: 0,
        };
        // Seen in frames 1-3, missed in 4-5, seen again in 6-8 (10 frames/s).
        let mut dets: Vec<Vec<Detection>> = (0..8).map(|i| vec![det(i as f32)]).collect();
        dets[3].clear();
        dets[4].clear();
        let online = TrackerConfig {
            coast_s: 0.0,
            ..Default::default()
        };
        let lagged = TrackerConfig {
            output_lag_s: 0.5,
            ..online.clone()
        };
        let count = |frames: &[Vec<Track>]| frames.iter().filter(|f| !f.is_empty()).count();
        let plain = track_frames(&dets, (10, 10.0), None, (&online, 1));
        let filled = track_frames(&dets, (10, 10.0), None, (&lagged, 1));
        assert_eq!((plain.len(), filled.len()), (10, 10));
        assert_eq!((count(&plain), count(&filled)), (6, 8));
        assert!(filled[3].iter().chain(&filled[4]).all(|t| t.id == 1));
    }

    #[test]
    fn tracks_every_frame_of_the_sequence_even_without_detections() {
        let det = Detection {
            bbox: BBox::new(0.0, 0.0, 10.0, 20.0),
            score: 0.9,
            class_id: 0,
        };
        let frames = track_frames(
            &[vec![det], vec![det]],
            (5, 30.0),
            None,
            (&TrackerConfig::default(), 1),
        );
        assert_eq!(frames.len(), 5);
        assert_eq!(frames[1].len(), 1);
    }
}
