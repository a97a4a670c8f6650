//! `vigil eval-predict`: how well look-ahead models forecast where people go, on MOTChallenge
//! ground truth (every gt trajectory fed to each model) and on vigil's own tracks (the tracker run
//! over a sequence's detections, each track judged against the gt object it covers). The scoring
//! is `predict::score`; this file turns folders into trajectories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::dataset::sequences;
use super::input::{parse_gt, GtRow};
use crate::assignment::{max_weight_matching, Weights};
use crate::error::{Context, Error, Result};
use crate::frame::Track;
use crate::geom::BBox;
use crate::motchallenge::{parse_detections, SeqInfo};
use crate::offline::{load_camera_motion, track_frames};
use crate::predict::score::{
    horizon_steps, score_model, score_origin, HorizonErrors, Point, Truth,
};
use crate::predict::{
    ByteTrackKalman, ConstantPosition, DefaultLookAhead, Forecast, Imm, LastTwoVelocity,
    LookAheadWeights, RegressionParams, WindowRegression,
};
use crate::track::TrackerConfig;

/// The figures of one model at each horizon.
#[derive(Clone, Debug, Serialize)]
pub struct ModelScores {
    pub model: String,
    pub horizons: Vec<crate::predict::score::HorizonSummary>,
}

/// Scores on gt trajectories and, with detections, on vigil's tracks.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    pub ground_truth: Vec<ModelScores>,
    pub vigil_tracks: Option<Vec<ModelScores>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub horizons_s: Vec<f64>,
    pub combined: Scores,
    pub sequences: Vec<(String, Scores)>,
}

/// The errors of each model, by name, for one horizon list.
type Errors = Vec<(String, Vec<HorizonErrors>)>;

/// The name vigil's look-ahead model is reported under.
pub const DEFAULT_MODEL: &str = "vigil default (learned velocity, window spread)";

/// The name the in-tracker forecasts are reported under.
pub const IN_TRACKER: &str = "vigil tracker forecasts";

/// Evaluates every sequence under `gt_dir`; `tracked` adds the scores on vigil's own tracks: the
/// detections (relative to each sequence folder, or a file for a single sequence) and the
/// camera motion file the tracker follows, if any (relative to each sequence folder).
/// `min_visibility` drops gt boxes less visible than that (0 keeps all, as MOTChallenge scores).
pub fn evaluate(
    gt_dir: &Path,
    horizons_s: &[f64],
    tracked: Option<(&Path, Option<&Path>)>,
    min_visibility: f64,
    weights: Option<Arc<LookAheadWeights>>,
) -> Result<Report> {
    let mut per_sequence = Vec::new();
    let (mut all_gt, mut all_tracks): (Errors, Option<Errors>) = (Vec::new(), None);
    for seq in sequences(gt_dir)? {
        let name = seq
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (on_gt, on_tracks) =
            evaluate_sequence(&seq, horizons_s, tracked, min_visibility, &weights)?;
        merge_into(&mut all_gt, &on_gt);
        if let Some(t) = &on_tracks {
            merge_into(all_tracks.get_or_insert_with(Vec::new), t);
        }
        per_sequence.push((name, summarise(&on_gt, &on_tracks, horizons_s)));
    }
    Ok(Report {
        horizons_s: horizons_s.to_vec(),
        combined: summarise(&all_gt, &all_tracks, horizons_s),
        sequences: per_sequence,
    })
}

/// `0.5,1,2` → seconds; every horizon a positive number.
pub fn parse_horizons(text: &str) -> std::result::Result<Vec<f64>, String> {
    let horizons = text
        .split(',')
        .map(str::trim)
        .map(|h| match h.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(format!("'{h}' is not a positive number of seconds")),
        })
        .collect::<std::result::Result<Vec<f64>, String>>()?;
    // The same rules as the tracker's `horizons_s`: what is evaluated is what can ship.
    crate::track::validate_horizons(&horizons.iter().map(|&h| h as f32).collect::<Vec<_>>())?;
    Ok(horizons)
}

/// The human table: per model and horizon, FDE and ADE (median / mean, px and per box height)
/// and the shares inside the 50/90/95 % ellipses; on gt, then on vigil's tracks.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let mut section = |title: &str, rows: &[ModelScores]| {
        out +=
            &format!(
            "{title}\n{:<52} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8}\n",
            "model", "h (s)", "FDE med", "mean", "FDE/h", "mean", "ADE med", "mean", "in50", "in90",
            "in95", "n"
        );
        for m in rows {
            for h in &m.horizons {
                out += &format!(
                    "{:<52} {:>5} {:>7.1} {:>7.1} {:>7.3} {:>7.3} {:>7.1} {:>7.1} {:>6.3} {:>6.3} {:>6.3} {:>8}\n",
                    m.model,
                    h.horizon_s,
                    h.fde_median_px,
                    h.fde_mean_px,
                    h.fde_median_per_height,
                    h.fde_mean_per_height,
                    h.ade_median_px,
                    h.ade_mean_px,
                    h.inside_50,
                    h.inside_90,
                    h.inside_95,
                    h.forecasts
                );
            }
        }
        out += "\n";
    };
    section(
        "on ground-truth trajectories",
        &report.combined.ground_truth,
    );
    if let Some(rows) = &report.combined.vigil_tracks {
        section("on vigil's tracks (matched to gt at IoU >= 0.5)", rows);
    }
    out
}

fn merge_into(total: &mut Errors, part: &Errors) {
    for (name, errors) in part {
        match total.iter_mut().find(|(n, _)| n == name) {
            Some((_, acc)) => acc.iter_mut().zip(errors).for_each(|(a, e)| a.merge(e)),
            None => total.push((name.clone(), errors.clone())),
        }
    }
}

fn summarise(on_gt: &Errors, on_tracks: &Option<Errors>, horizons_s: &[f64]) -> Scores {
    let rows = |errors: &Errors| {
        errors
            .iter()
            .map(|(model, e)| ModelScores {
                model: model.clone(),
                horizons: e
                    .iter()
                    .zip(horizons_s)
                    .map(|(e, &h)| e.summary(h))
                    .collect(),
            })
            .collect()
    };
    Scores {
        ground_truth: rows(on_gt),
        vigil_tracks: on_tracks.as_ref().map(rows),
    }
}

fn evaluate_sequence(
    seq: &Path,
    horizons_s: &[f64],
    tracked: Option<(&Path, Option<&Path>)>,
    min_visibility: f64,
    weights: &Option<Arc<LookAheadWeights>>,
) -> Result<(Errors, Option<Errors>)> {
    let info = SeqInfo::load(seq)?;
    let gt_path = seq.join("gt/gt.txt");
    let text = std::fs::read_to_string(&gt_path)
        .input_err(|| format!("cannot read '{}'", gt_path.display()))?;
    let rows = parse_gt(&text).map_err(|e| Error::input(format!("'{}' {e}", gt_path.display())))?;
    let mut gt = scored_gt(&rows, info.length);
    gt.retain(|r| r.visibility >= min_visibility);
    let truth = truth_of(&gt);
    let steps = horizon_steps(horizons_s, info.frame_rate);
    let on_gt = score_models(
        &gt_trajectories(&gt),
        info.frame_rate,
        (&steps, &truth),
        weights,
    );
    let on_tracks = match tracked {
        None => None,
        Some((det, camera_motion)) => {
            let path = if det.is_file() {
                det.to_path_buf()
            } else {
                seq.join(det)
            };
            let camera = camera_motion
                .map(|c| load_camera_motion(&seq.join(c), &info))
                .transpose()?;
            Some(score_tracks(
                &path,
                (&info, camera.as_deref()),
                &gt,
                (&steps, &truth),
                weights,
            )?)
        }
    };
    Ok((on_gt, on_tracks))
}

/// The candidates and baselines, each run over the same trajectories.
fn score_models(
    trajectories: &[Vec<Point>],
    fps: f64,
    (steps, truth): (&[usize], &Truth),
    weights: &Option<Arc<LookAheadWeights>>,
) -> Errors {
    let run = |name: &str, errors: Vec<HorizonErrors>| (name.to_string(), errors);
    let fixed_noise = RegressionParams {
        adapt_to_track: false,
        ..Default::default()
    };
    vec![
        run(
            "constant position",
            score_model(trajectories, ConstantPosition::default, fps, steps, truth),
        ),
        run(
            "constant velocity (last two boxes)",
            score_model(trajectories, LastTwoVelocity::default, fps, steps, truth),
        ),
        run(
            "ByteTrack Kalman filter",
            score_model(
                trajectories,
                || ByteTrackKalman::new(fps),
                fps,
                steps,
                truth,
            ),
        ),
        run(
            "IMM (constant position + velocity)",
            score_model(trajectories, Imm::default, fps, steps, truth),
        ),
        run(
            "window regression, fixed noise",
            score_model(
                trajectories,
                || WindowRegression::new(fixed_noise),
                fps,
                steps,
                truth,
            ),
        ),
        run(
            "window regression, per-track noise",
            score_model(trajectories, WindowRegression::default, fps, steps, truth),
        ),
        run(
            DEFAULT_MODEL,
            score_model(
                trajectories,
                || DefaultLookAhead::with_weights(weights.clone()),
                fps,
                steps,
                truth,
            ),
        ),
    ]
}

/// Gt rows MOTChallenge scores: pedestrians (class 1) not marked zero, within the sequence (all
/// not marked zero for a file without MOT17 classes, such as MOT15's).
fn scored_gt(rows: &[GtRow], length: u64) -> Vec<GtRow> {
    let has_classes = !rows.is_empty() && rows.iter().all(|r| r.class != -1);
    rows.iter()
        .filter(|r| r.consider != 0 && (!has_classes || r.class == 1) && r.frame <= length)
        .copied()
        .collect()
}

fn tlwh_box(tlwh: &[f64; 4]) -> BBox {
    BBox::from_tlwh(
        tlwh[0] as f32,
        tlwh[1] as f32,
        tlwh[2] as f32,
        tlwh[3] as f32,
    )
}

fn truth_of(gt: &[GtRow]) -> Truth {
    gt.iter()
        .map(|r| {
            let [x, y, w, h] = r.tlwh;
            ((r.id, r.frame), [x + w / 2.0, y + h / 2.0, w, h])
        })
        .collect()
}

/// Each gt object's boxes in frame order, each frame judged against the object itself.
fn gt_trajectories(gt: &[GtRow]) -> Vec<Vec<Point>> {
    let mut by_id: HashMap<i64, Vec<Point>> = HashMap::new();
    for r in gt {
        by_id.entry(r.id).or_default().push(Point {
            frame: r.frame,
            bbox: tlwh_box(&r.tlwh),
            target: Some(r.id),
        });
    }
    let mut ids: Vec<i64> = by_id.keys().copied().collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let mut points = by_id.remove(&id).unwrap_or_default();
            points.sort_by_key(|p| p.frame);
            points
        })
        .collect()
}

/// Runs vigil's tracker over the detections (forecasting every frame step up to the longest
/// horizon), matches its tracks to gt in every frame, and scores its own forecasts and every
/// model fed the tracks' boxes.
fn score_tracks(
    detections: &PathBuf,
    (info, camera): (&SeqInfo, Option<&[crate::geom::Affine]>),
    gt: &[GtRow],
    (steps, truth): (&[usize], &Truth),
    weights: &Option<Arc<LookAheadWeights>>,
) -> Result<Errors> {
    let text = std::fs::read_to_string(detections)
        .input_err(|| format!("detections '{}'", detections.display()))?;
    let dets = parse_detections(&text, info.length)
        .map_err(|e| Error::input(format!("'{}' {e}", detections.display())))?;
    let longest = steps.iter().copied().max().unwrap_or(1);
    let config = TrackerConfig {
        horizons_s: (1..=longest)
            .map(|k| (k as f64 / info.frame_rate) as f32)
            .collect(),
        look_ahead_weights: weights.clone(),
        ..Default::default()
    };
    let frames = track_frames(&dets, (info.length, info.frame_rate), camera, (&config, 1));
    let (trajectories, forecasts) = match_tracks(&frames, gt);
    let mut in_tracker = vec![HorizonErrors::default(); steps.len()];
    for (frame, target, f) in &forecasts {
        score_origin(f, *frame, *target, truth, steps, &mut in_tracker);
    }
    let mut errors = vec![(IN_TRACKER.to_string(), in_tracker)];
    errors.extend(score_models(
        &trajectories,
        info.frame_rate,
        (steps, truth),
        weights,
    ));
    Ok(errors)
}

/// A tracker's forecasts made in one frame, with the gt object they are judged against.
type TrackerForecasts = Vec<(u64, i64, Vec<Option<Forecast>>)>;

/// Each track's boxes as a trajectory (judged against the gt object matched in each frame: IoU
/// ≥ 0.5, optimal assignment), and the forecasts of every matched track.
fn match_tracks(frames: &[Vec<Track>], gt: &[GtRow]) -> (Vec<Vec<Point>>, TrackerForecasts) {
    let mut gt_by_frame: HashMap<u64, Vec<&GtRow>> = HashMap::new();
    for r in gt {
        gt_by_frame.entry(r.frame).or_default().push(r);
    }
    let mut by_track: HashMap<u64, Vec<Point>> = HashMap::new();
    let mut forecasts = Vec::new();
    for (i, tracks) in frames.iter().enumerate() {
        let frame = i as u64 + 1;
        let gts = gt_by_frame.get(&frame).map_or(&[][..], Vec::as_slice);
        let weights = Weights::from_fn(tracks.len(), gts.len(), |t, g| {
            let iou = tracks[t].bbox.iou(&tlwh_box(&gts[g].tlwh)) as f64;
            if iou >= 0.5 {
                iou
            } else {
                0.0
            }
        });
        let mut target = vec![None; tracks.len()];
        for (t, g) in max_weight_matching(&weights) {
            target[t] = Some(gts[g].id);
        }
        for (track, target) in tracks.iter().zip(target) {
            by_track.entry(track.id).or_default().push(Point {
                frame,
                bbox: track.bbox,
                target,
            });
            if let Some(id) = target {
                let f = track
                    .predicted
                    .iter()
                    .map(|p| Some(forecast_of(p)))
                    .collect();
                forecasts.push((frame, id, f));
            }
        }
    }
    let mut ids: Vec<u64> = by_track.keys().copied().collect();
    ids.sort_unstable();
    let trajectories = ids
        .into_iter()
        .filter_map(|id| by_track.remove(&id))
        .collect();
    (trajectories, forecasts)
}

fn forecast_of(p: &crate::frame::Prediction) -> Forecast {
    let (cx, cy) = p.bbox.center();
    Forecast {
        center: [cx as f64, cy as f64],
        size: [p.bbox.width() as f64, p.bbox.height() as f64],
        cov: p.cov_xy.map(|v| v as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GT: &str = "1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,1,1,1\n1,2,100,10,20,40,0,1,1\n\
                      1,3,200,10,20,40,1,7,1\n3,1,14,10,20,40,1,1,1\n";

    #[test]
    fn horizons_must_be_positive_numbers() {
        assert_eq!(parse_horizons("0.5, 1,2").unwrap(), [0.5, 1.0, 2.0]);
        for bad in ["0", "-1,abc", "1,,2", "inf"] {
            assert!(parse_horizons(bad).is_err(), "{bad}");
        }
        assert!(parse_horizons("-1,abc").unwrap_err().contains("'-1'"));
        for unordered in ["2,1", "1,1", "1e9"] {
            assert!(parse_horizons(unordered).is_err(), "{unordered}");
        }
    }

    #[test]
    fn gt_trajectories_keep_scored_pedestrians_in_frame_order() {
        let gt = scored_gt(&parse_gt(GT).unwrap(), 10);
        let t = gt_trajectories(&gt);
        assert_eq!(t.len(), 1, "zero-marked and static people are not scored");
        assert_eq!(t[0].iter().map(|p| p.frame).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(t[0].iter().all(|p| p.target == Some(1)));
        assert_eq!(truth_of(&gt)[&(1, 3)], [24.0, 30.0, 20.0, 40.0]);
    }

    #[test]
    fn tracks_are_judged_against_the_gt_object_they_cover() {
        let gt = scored_gt(&parse_gt(GT).unwrap(), 10);
        let track = |id: u64, x: f32| Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::from_tlwh(x, 10.0, 20.0, 40.0),
            velocity: [0.0; 2],
            predicted: Vec::new(),
        };
        // Track 5 covers gt 1 in frame 1, then drifts off it (IoU < 0.5) in frame 2.
        let frames = vec![vec![track(5, 11.0)], vec![track(5, 40.0)]];
        let (trajectories, forecasts) = match_tracks(&frames, &gt);
        let targets: Vec<Option<i64>> = trajectories[0].iter().map(|p| p.target).collect();
        assert_eq!(targets, [Some(1), None]);
        assert_eq!(forecasts.len(), 1);
    }
}
