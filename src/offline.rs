//! Tracking from given detections (MOTChallenge `det.txt`) instead of running the detector: the
//! way trackers are compared on benchmarks. Frame times come from the sequence's frame rate.

use std::path::{Path, PathBuf};

use opencv::core::Mat;

use crate::error::{Context, Error, Result};
use crate::frame::{Detection, Frame, FrameMeta, Track, TrackedFrame};
use crate::motchallenge::{parse_detections, SeqInfo};
use crate::sink::{MotSink, Sink};
use crate::track::{Tracker, TrackerConfig};

/// Tracks every frame `1..=length`; `detections[i]` are frame `i + 1`'s. Pure.
pub fn track_frames(
    detections: &[Vec<Detection>],
    length: u64,
    fps: f64,
    config: &TrackerConfig,
) -> Vec<Vec<Track>> {
    let mut tracker = Tracker::new(config.clone());
    (0..length as usize)
        .map(|i| {
            tracker.update(
                detections.get(i).map_or(&[][..], Vec::as_slice),
                i as f64 / fps,
            )
        })
        .collect()
}

/// One sequence to track: where it is, its detections file, and where its tracks go.
pub struct Job {
    pub seq_dir: PathBuf,
    pub detections: PathBuf,
    pub output: PathBuf,
}

/// The jobs for `vigil track INPUT --detections DET --mot OUT`: one sequence folder (DET as
/// given, or relative to the folder), or a folder of sequences (DET relative to each, OUT a folder
/// that receives `SEQ.txt`).
pub fn plan(input: &Path, detections: &Path, output: &Path) -> Result<Vec<Job>> {
    if input.join("seqinfo.ini").is_file() {
        let det = if detections.is_file() {
            detections.to_path_buf()
        } else {
            input.join(detections)
        };
        return Ok(vec![Job {
            seq_dir: input.to_path_buf(),
            detections: det,
            output: output.to_path_buf(),
        }]);
    }
    let entries = std::fs::read_dir(input).input_err(|| format!("input '{}'", input.display()))?;
    let mut seqs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("seqinfo.ini").is_file())
        .collect();
    seqs.sort();
    if seqs.is_empty() {
        return Err(Error::input(format!(
            "input '{}': neither a sequence (seqinfo.ini) nor a folder of sequences",
            input.display()
        )));
    }
    std::fs::create_dir_all(output)
        .map_err(|e| Error::input(format!("cannot create '{}': {e}", output.display())))?;
    Ok(seqs
        .into_iter()
        .map(|seq| {
            let name = seq
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Job {
                detections: seq.join(detections),
                output: output.join(format!("{name}.txt")),
                seq_dir: seq,
            }
        })
        .collect())
}

/// Runs one job; returns (frames, distinct track ids).
pub fn run(job: &Job, config: &TrackerConfig) -> Result<(u64, usize)> {
    let info = SeqInfo::load(&job.seq_dir)?;
    let text = std::fs::read_to_string(&job.detections)
        .input_err(|| format!("detections '{}'", job.detections.display()))?;
    let detections = parse_detections(&text)
        .map_err(|e| Error::input(format!("'{}' {e}", job.detections.display())))?;
    let frames = track_frames(&detections, info.length, info.frame_rate, config);
    let mut sink = MotSink::create(&job.output)?;
    let mut ids = std::collections::HashSet::new();
    for (i, tracks) in frames.into_iter().enumerate() {
        ids.extend(tracks.iter().map(|t| t.id));
        let meta = FrameMeta {
            seq: i as u64,
            number: i as u64 + 1,
            pts_ms: i as f64 * 1000.0 / info.frame_rate,
            captured_at: std::time::Instant::now(),
        };
        let frame = Frame {
            meta,
            image: Mat::default(),
        };
        sink.write(&TrackedFrame {
            frame,
            detections: Vec::new(),
            tracks,
        })?;
    }
    sink.finish()?;
    Ok((info.length, ids.len()))
}
