//! Tracking from given detections (MOTChallenge `det.txt`) instead of running the detector: the
//! way trackers are compared on benchmarks. Frame times come from the sequence's frame rate.

use std::path::{Path, PathBuf};

use opencv::core::Mat;

use crate::error::{Context, Error, Result};
use crate::frame::{Detection, Frame, FrameMeta, Track, TrackedFrame};
use crate::motchallenge::{parse_detections, sequence_dirs, SeqInfo};
use crate::sink::{MotSink, Sink};
use crate::track::{Tracker, TrackerConfig};

/// Tracks every frame `1..=length`; `detections[i]` are frame `i + 1`'s. The tracks of every
/// frame, after the configured output lag. Pure.
pub fn track_frames(
    detections: &[Vec<Detection>],
    length: u64,
    fps: f64,
    config: &TrackerConfig,
) -> Vec<Vec<Track>> {
    let mut tracker = Tracker::new(config.clone());
    let mut lag = config.fixed_lag::<()>();
    let mut out = Vec::with_capacity(length as usize);
    for i in 0..length as usize {
        let time_s = i as f64 / fps;
        let tracks = tracker.update(detections.get(i).map_or(&[][..], Vec::as_slice), time_s);
        out.extend(lag.push(time_s, (), tracks).into_iter().map(|(_, t)| t));
    }
    out.extend(lag.finish().into_iter().map(|(_, t)| t));
    out
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
    let seqs = sequence_dirs(input, "seqinfo.ini")?;
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
    let detections = parse_detections(&text, info.length)
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
            tracks,
            events: Vec::new(),
        })?;
    }
    sink.finish()?;
    Ok((info.length, ids.len()))
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
        let plain = track_frames(&dets, 10, 10.0, &online);
        let filled = track_frames(&dets, 10, 10.0, &lagged);
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
        let frames = track_frames(&[vec![det], vec![det]], 5, 30.0, &TrackerConfig::default());
        assert_eq!(frames.len(), 5);
        assert_eq!(frames[1].len(), 1);
    }
}
