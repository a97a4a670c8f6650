//! Tracking from given detections (MOTChallenge `det.txt`) instead of running the detector: the
//! way trackers are compared on benchmarks. Frame times come from the sequence's frame rate.

use std::path::{Path, PathBuf};

use opencv::core::Mat;

use crate::error::{Context, Error, Result};
use crate::frame::{Detection, Frame, FrameMeta, Track, TrackedFrame};
use crate::motchallenge::{parse_detections, sequence_dirs, SeqInfo};
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

/// Fills gaps of at most `max_gap` frames in each identity's trajectory with boxes interpolated
/// linearly between the observations on either side — possible only offline, once the
/// re-appearance is known (ByteTrack's post-processing). Pure.
pub fn interpolate_gaps(frames: &mut [Vec<Track>], max_gap: usize) {
    let mut last_seen: std::collections::HashMap<u64, (usize, Track)> =
        std::collections::HashMap::new();
    let mut fills: Vec<(usize, Track)> = Vec::new();
    for (i, tracks) in frames.iter().enumerate() {
        for t in tracks {
            if let Some((j, before)) = last_seen.get(&t.id) {
                let gap = i - j - 1;
                if gap > 0 && gap <= max_gap {
                    for k in 1..=gap {
                        let f = k as f32 / (gap + 1) as f32;
                        let lerp = |a: f32, b: f32| a + (b - a) * f;
                        let (a, b) = (before.bbox, t.bbox);
                        let bbox = crate::geom::BBox::new(
                            lerp(a.x1, b.x1),
                            lerp(a.y1, b.y1),
                            lerp(a.x2, b.x2),
                            lerp(a.y2, b.y2),
                        );
                        fills.push((
                            j + k,
                            Track {
                                bbox,
                                score: lerp(before.score, t.score),
                                predicted: Vec::new(),
                                ..t.clone()
                            },
                        ));
                    }
                }
            }
            last_seen.insert(t.id, (i, t.clone()));
        }
    }
    for (i, t) in fills {
        frames[i].push(t);
    }
    for tracks in frames.iter_mut() {
        tracks.sort_by_key(|t| t.id);
    }
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
pub fn run(job: &Job, config: &TrackerConfig, interpolate: usize) -> Result<(u64, usize)> {
    let info = SeqInfo::load(&job.seq_dir)?;
    let text = std::fs::read_to_string(&job.detections)
        .input_err(|| format!("detections '{}'", job.detections.display()))?;
    let detections = parse_detections(&text)
        .map_err(|e| Error::input(format!("'{}' {e}", job.detections.display())))?;
    let mut frames = track_frames(&detections, info.length, info.frame_rate, config);
    if interpolate > 0 {
        interpolate_gaps(&mut frames, interpolate);
    }
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
        sink.write(&TrackedFrame { frame, tracks })?;
    }
    sink.finish()?;
    Ok((info.length, ids.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::BBox;

    fn track(id: u64, x: f32) -> Track {
        Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(x, 0.0, x + 10.0, 20.0),
            velocity: [0.0; 2],
            predicted: vec![],
        }
    }

    #[test]
    fn interpolates_short_gaps_only() {
        // id 1 seen at frames 0 and 3 (gap 2); id 2 at frames 0 and 4 (gap 3 > max 2).
        let mut frames = vec![
            vec![track(1, 0.0), track(2, 50.0)],
            vec![],
            vec![],
            vec![track(1, 30.0)],
            vec![track(2, 90.0)],
        ];
        interpolate_gaps(&mut frames, 2);
        assert_eq!(frames[1].len(), 1);
        assert_eq!(frames[1][0].bbox.x1, 10.0);
        assert_eq!(frames[2][0].bbox.x1, 20.0);
        assert!(frames[3].iter().all(|t| t.id == 1));
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
