//! `vigil eval-det`: how well a detector finds people, scored against MOTChallenge gt: precision
//! and recall at IoU ≥ 0.5, COCO-style AP@0.5 and AP@0.5:0.95, and the mean IoU of the hits, per
//! sequence and combined. Pure: `dataset.rs` reads the files.
//!
//! # Matching rule
//! - **Targets**: gt rows of class 1 (pedestrian) with consider = 1 and visibility ≥ the bound
//!   (`--min-visibility`, default 0).
//! - **Ignored gt**: rows of classes 2, 7, 8, 12 (person on vehicle, static person, distractor,
//!   reflection), pedestrian rows with consider = 0, and pedestrian rows below the visibility
//!   bound. Other classes (vehicles, occluders) are neither: a box on a car is a false positive.
//!   A gt file without MOT17 classes (MOT15) is all pedestrians, as `vigil eval` reads it.
//! - Per frame and per IoU threshold, detections are taken by descending score (equal scores in
//!   file order). Each is a hit (TP) on the still unmatched target with the highest IoU ≥ the
//!   threshold (of equal IoUs the later target in the file, as pycocotools picks). Failing that,
//!   it is ignored (neither TP nor FP) if its IoU with any ignored gt box is ≥ the threshold; an
//!   ignored box may absorb any number of detections. Otherwise it is a false positive. The IoU
//!   is the plain IoU for ignored boxes too, not pycocotools' crowd rule (intersection over the
//!   detection's area).
//! - **AP** at a threshold, as pycocotools' `COCOeval.accumulate` computes it with no cap on
//!   detections per image: every detection of every frame (of the sequence, or of all sequences
//!   for COMBINED) ranked by score, equal scores in frame order; the precision made monotone from
//!   the right (its envelope), read at the 101 recalls 0, 0.01, …, 1 (0 past the last recall
//!   reached) and averaged. AP@0.5:0.95 averages the ten thresholds 0.50, 0.55, …, 0.95.
//! - Precision, recall and the mean IoU of the hits are at IoU ≥ 0.5 over all detections given.

use serde::Serialize;

use super::input::GtRow;
use super::prepare::{has_classes, DISTRACTOR_CLASSES, PEDESTRIAN};
use crate::motchallenge::DetectionRow;

/// How many IoU thresholds AP@0.5:0.95 averages.
const THRESHOLDS: usize = 10;
/// How many recall points the interpolated precision is read at.
const RECALL_POINTS: usize = 101;
/// The precision of the operating point reported beside AP.
const OPERATING_PRECISION: f64 = 0.8;

/// `N` evenly spaced values from `start` to `stop`, computed as `np.linspace` computes them
/// (`start + i·step`, the last one exactly `stop`): pycocotools' thresholds are these, and a
/// value at exactly a threshold must fall on the same side here (0.9 is 0.8999999999999999).
fn linspace<const N: usize>(start: f64, stop: f64) -> [f64; N] {
    let step = (stop - start) / (N - 1) as f64;
    std::array::from_fn(|i| {
        if i == N - 1 {
            stop
        } else {
            i as f64 * step + start
        }
    })
}

/// The IoU thresholds 0.50, 0.55, …, 0.95; the first is the one precision and recall use.
fn iou_thresholds() -> [f64; THRESHOLDS] {
    linspace(0.5, 0.95)
}

/// IoU of a detection and a gt box (`[x, y, w, h]`), in the order of operations of pycocotools'
/// `bbIou`, so that a pair at exactly a threshold counts the same in both; 0 without overlap.
fn iou(det: &[f64; 4], gt: &[f64; 4]) -> f64 {
    let w = (det[0] + det[2]).min(gt[0] + gt[2]) - det[0].max(gt[0]);
    let h = (det[1] + det[3]).min(gt[1] + gt[3]) - det[1].max(gt[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    inter / (det[2] * det[3] + gt[2] * gt[3] - inter)
}

/// One frame's boxes as the matching sees them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameBoxes {
    pub targets: Vec<[f64; 4]>,
    pub ignored: Vec<[f64; 4]>,
    /// `(tlwh, score)`, in file order.
    pub detections: Vec<([f64; 4], f64)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Target,
    Ignored,
    Neither,
}

fn role(row: &GtRow, with_classes: bool, min_visibility: f64) -> Role {
    let class = if with_classes { row.class } else { PEDESTRIAN };
    if DISTRACTOR_CLASSES.contains(&class) {
        Role::Ignored
    } else if class != PEDESTRIAN {
        Role::Neither
    } else if row.consider == 0 || row.visibility < min_visibility {
        Role::Ignored
    } else {
        Role::Target
    }
}

/// Frames `1..=length` of a sequence: its gt sorted into targets and ignored boxes, its
/// detections as given. Rows past the sequence's end are dropped, as `vigil eval` drops them.
pub fn frames(
    gt: &[GtRow],
    detections: &[DetectionRow],
    length: u64,
    min_visibility: f64,
) -> Vec<FrameBoxes> {
    let mut frames = vec![FrameBoxes::default(); length as usize];
    let with_classes = has_classes(gt);
    for row in gt {
        if let Some(f) = numbered(&mut frames, row.frame) {
            match role(row, with_classes, min_visibility) {
                Role::Target => f.targets.push(row.tlwh),
                Role::Ignored => f.ignored.push(row.tlwh),
                Role::Neither => {}
            }
        }
    }
    for det in detections {
        if let Some(f) = numbered(&mut frames, det.frame) {
            f.detections.push((det.tlwh, det.score));
        }
    }
    frames
}

/// Frame `number` (from 1), if the sequence has it.
fn numbered(frames: &mut [FrameBoxes], number: u64) -> Option<&mut FrameBoxes> {
    frames.get_mut((number as usize).wrapping_sub(1))
}

/// What became of one detection at one IoU threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Hit { iou: f64 },
    Ignored,
    Miss,
}

/// Every detection's outcome at every threshold, and how many targets there were.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// `(score, outcome per threshold)`: frames in order, each frame's detections by descending
    /// score (ties in file order), the order in which pycocotools joins its images before
    /// ranking them all, so that ties across frames rank the same.
    detections: Vec<(f64, [Outcome; THRESHOLDS])>,
    targets: usize,
}

impl Matches {
    pub fn of_frames(frames: &[FrameBoxes]) -> Self {
        let mut all = Matches::default();
        for frame in frames {
            all.targets += frame.targets.len();
            all.detections.extend(match_frame(frame));
        }
        all
    }

    /// Sequences pooled as one (COMBINED): their detections ranked together.
    pub fn combine(all: &[Matches]) -> Self {
        Matches {
            detections: all.iter().flat_map(|m| m.detections.clone()).collect(),
            targets: all.iter().map(|m| m.targets).sum(),
        }
    }

    pub fn summary(&self) -> Summary {
        let at_half = |o: &(f64, [Outcome; THRESHOLDS])| o.1[0];
        let count = |wanted: fn(&Outcome) -> bool| {
            self.detections.iter().map(at_half).filter(wanted).count() as u64
        };
        let tp = count(|o| matches!(o, Outcome::Hit { .. }));
        let fp = count(|o| matches!(o, Outcome::Miss));
        let hit_iou: f64 = self
            .detections
            .iter()
            .filter_map(|d| match at_half(d) {
                Outcome::Hit { iou } => Some(iou),
                _ => None,
            })
            .sum();
        let ratio = |num: f64, den: u64| (den > 0).then(|| num / den as f64);
        let ap = self.average_precisions();
        let operating = self.best_recall_at_precision(OPERATING_PRECISION);
        Summary {
            targets: self.targets as u64,
            detections: self.detections.len() as u64,
            tp,
            fp,
            ignored: count(|o| matches!(o, Outcome::Ignored)),
            precision: ratio(tp as f64, tp + fp),
            recall: ratio(tp as f64, self.targets as u64),
            ap50: ap.map(|a| a[0]),
            ap50_95: ap.map(|a| a.iter().sum::<f64>() / THRESHOLDS as f64),
            mean_iou: ratio(hit_iou, tp),
            recall_at_p80: operating.map(|(recall, _)| recall),
            score_at_p80: operating.map(|(_, score)| score),
        }
    }

    /// The highest recall at IoU 0.5 of a score threshold whose precision is at least
    /// `precision`, and that threshold: the operating point a deployment would pick. Thresholds
    /// fall between distinct scores, so ties are never split.
    fn best_recall_at_precision(&self, precision: f64) -> Option<(f64, f64)> {
        if self.targets == 0 {
            return None;
        }
        let mut ranked: Vec<&(f64, [Outcome; THRESHOLDS])> = self.detections.iter().collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp, mut best) = (0u64, 0u64, None);
        for (k, (score, outcomes)) in ranked.iter().enumerate() {
            match outcomes[0] {
                Outcome::Hit { .. } => tp += 1,
                Outcome::Miss => fp += 1,
                Outcome::Ignored => {}
            }
            let threshold_ends_here = ranked.get(k + 1).is_none_or(|next| next.0 < *score);
            if threshold_ends_here && tp > 0 && tp as f64 >= precision * (tp + fp) as f64 {
                best = Some((tp as f64 / self.targets as f64, *score));
            }
        }
        best
    }

    /// AP at each threshold; none without targets (pycocotools' −1).
    fn average_precisions(&self) -> Option<[f64; THRESHOLDS]> {
        if self.targets == 0 {
            return None;
        }
        let mut ranked: Vec<&(f64, [Outcome; THRESHOLDS])> = self.detections.iter().collect();
        // Stable, like numpy's mergesort: equal scores keep frame order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        Some(std::array::from_fn(|t| {
            average_precision(ranked.iter().map(|d| d.1[t]), self.targets)
        }))
    }
}

/// One frame's detections by descending score (ties in file order), each with its outcome at
/// every threshold.
fn match_frame(frame: &FrameBoxes) -> Vec<(f64, [Outcome; THRESHOLDS])> {
    let mut ranked: Vec<&([f64; 4], f64)> = frame.detections.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let target_ious: Vec<Vec<f64>> = ranked
        .iter()
        .map(|(det, _)| frame.targets.iter().map(|g| iou(det, g)).collect())
        .collect();
    // Any ignored box at or above the threshold will do, so only the best one matters.
    let best_ignored_iou: Vec<f64> = ranked
        .iter()
        .map(|(det, _)| {
            frame
                .ignored
                .iter()
                .map(|g| iou(det, g))
                .fold(0.0, f64::max)
        })
        .collect();
    let per_threshold = iou_thresholds().map(|threshold| {
        match_at(
            threshold,
            &target_ious,
            &best_ignored_iou,
            frame.targets.len(),
        )
    });
    ranked
        .iter()
        .enumerate()
        .map(|(k, (_, score))| (*score, std::array::from_fn(|t| per_threshold[t][k])))
        .collect()
}

/// The outcomes at `threshold` of a frame's detections, taken in rank order: `target_ious[k]`
/// are the k-th detection's IoUs with each target, `best_ignored_iou[k]` its best with an
/// ignored box.
fn match_at(
    threshold: f64,
    target_ious: &[Vec<f64>],
    best_ignored_iou: &[f64],
    targets: usize,
) -> Vec<Outcome> {
    let mut taken = vec![false; targets];
    target_ious
        .iter()
        .zip(best_ignored_iou)
        .map(
            |(ious, &ignored)| match best_free_target(ious, &taken, threshold) {
                Some(g) => {
                    taken[g] = true;
                    Outcome::Hit { iou: ious[g] }
                }
                None if ignored >= threshold => Outcome::Ignored,
                None => Outcome::Miss,
            },
        )
        .collect()
}

/// The untaken target with the highest IoU ≥ `threshold`; of equal ones the last, as
/// pycocotools' scan (a match at least as good replaces the best so far) picks.
fn best_free_target(ious: &[f64], taken: &[bool], threshold: f64) -> Option<usize> {
    let mut best = None;
    let mut bar = threshold;
    for (g, &iou) in ious.iter().enumerate() {
        if !taken[g] && iou >= bar {
            best = Some(g);
            bar = iou;
        }
    }
    best
}

/// COCO's 101-point interpolated AP of detections in rank order, against `targets` targets
/// (more than 0), in pycocotools' arithmetic: its precision carries `+ eps` in the denominator,
/// and ignored detections keep their place in the curve (a flat step).
fn average_precision(ranked: impl Iterator<Item = Outcome>, targets: usize) -> f64 {
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut recall, mut precision) = (Vec::new(), Vec::new());
    for outcome in ranked {
        match outcome {
            Outcome::Hit { .. } => tp += 1.0,
            Outcome::Miss => fp += 1.0,
            Outcome::Ignored => {}
        }
        recall.push(tp / targets as f64);
        precision.push(tp / (fp + tp + f64::EPSILON));
    }
    // The envelope: the best precision at this recall or any higher one.
    for i in (1..precision.len()).rev() {
        if precision[i] > precision[i - 1] {
            precision[i - 1] = precision[i];
        }
    }
    let sum: f64 = linspace::<RECALL_POINTS>(0.0, 1.0)
        .iter()
        .map(|&r| {
            // The first point reaching recall r (numpy's searchsorted, side='left').
            let i = recall.partition_point(|&x| x < r);
            precision.get(i).copied().unwrap_or(0.0)
        })
        .sum();
    sum / RECALL_POINTS as f64
}

/// The figures of one sequence or of all of them; fractions in [0, 1], none where undefined
/// (no detections scored, no targets, no hits).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub targets: u64,
    pub detections: u64,
    /// At IoU ≥ 0.5: hits, false positives, detections on ignored gt only.
    pub tp: u64,
    pub fp: u64,
    pub ignored: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub ap50: Option<f64>,
    pub ap50_95: Option<f64>,
    /// The mean IoU of the hits at 0.5.
    pub mean_iou: Option<f64>,
    /// The best recall at IoU 0.5 with precision ≥ 0.8, and the lowest score kept to reach it.
    pub recall_at_p80: Option<f64>,
    pub score_at_p80: Option<f64>,
}

/// Each sequence's summary, then COMBINED: all sequences pooled.
pub fn report(per_sequence: &[(String, Matches)]) -> Vec<(String, Summary)> {
    let all: Vec<Matches> = per_sequence.iter().map(|(_, m)| m.clone()).collect();
    per_sequence
        .iter()
        .map(|(name, m)| (name.clone(), m.summary()))
        .chain([("COMBINED".to_string(), Matches::combine(&all).summary())])
        .collect()
}

/// The report as a table, fractions in percent.
pub fn table(rows: &[(String, Summary)]) -> String {
    let mut out = format!(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "sequence",
        "targets",
        "dets",
        "TP",
        "FP",
        "prec",
        "recall",
        "AP50",
        "AP50:95",
        "mIoU",
        "R@P80",
        "score"
    );
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.3}", v * 100.0));
    for (name, s) in rows {
        out += &format!(
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            name,
            s.targets,
            s.detections,
            s.tp,
            s.fp,
            pct(s.precision),
            pct(s.recall),
            pct(s.ap50),
            pct(s.ap50_95),
            pct(s.mean_iou),
            pct(s.recall_at_p80),
            s.score_at_p80.map_or("-".into(), |v| format!("{v:.3}"))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10×10 box at `x`; two such boxes `d` apart overlap with IoU (10 − d) / (10 + d).
    fn square(x: f64) -> [f64; 4] {
        [x, 0.0, 10.0, 10.0]
    }

    fn frame(targets: &[[f64; 4]], ignored: &[[f64; 4]], dets: &[([f64; 4], f64)]) -> FrameBoxes {
        FrameBoxes {
            targets: targets.to_vec(),
            ignored: ignored.to_vec(),
            detections: dets.to_vec(),
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn the_operating_point_is_the_best_recall_at_precision_080() {
        // Ranked: hit 0.9, hit 0.8, miss 0.7, hit 0.6, miss 0.5, miss 0.5 — 5 targets.
        let t: Vec<[f64; 4]> = (0..5).map(|i| square(i as f64 * 10.0)).collect();
        let dets = [
            (square(0.0), 0.9),
            (square(10.0), 0.8),
            (square(100.0), 0.7),
            (square(20.0), 0.6),
            (square(200.0), 0.5),
            (square(300.0), 0.5),
        ];
        let m = Matches::of_frames(&[frame(&t, &[], &dets)]);
        // Precision 1, 1, 2/3, 3/4, 3/6: the last point ≥ 0.8 is at score 0.8 (recall 2/5).
        assert_eq!(m.best_recall_at_precision(0.8), Some((0.4, 0.8)));
        assert_eq!(m.best_recall_at_precision(0.75), Some((0.6, 0.6)));
        assert_eq!(Matches::default().best_recall_at_precision(0.8), None);
    }

    #[test]
    fn thresholds_are_numpys() {
        let t = iou_thresholds();
        assert_eq!(t[0], 0.5);
        assert_eq!(t[8], 0.8999999999999999);
        assert_eq!(t[9], 0.95);
        let r = linspace::<RECALL_POINTS>(0.0, 1.0);
        assert_eq!((r[57], r[100]), (0.5700000000000001, 1.0));
    }

    #[test]
    fn ap_interpolates_the_precision_envelope_at_101_recalls() {
        // Three targets; ranked hit, miss, hit, miss; the third target is never found.
        // Recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2, whose envelope is
        // 1, 2/3, 2/3, 1/2. Recalls 0…0.33 read 1 (34 points), 0.34…0.66 read 2/3 (33 points),
        // 0.67…1 are past the last recall and read 0: AP = (34 + 33·2/3) / 101 = 56/101.
        let f = frame(
            &[square(0.0), square(100.0), square(200.0)],
            &[],
            &[
                (square(0.0), 0.9),
                (square(500.0), 0.8),
                (square(100.0), 0.7),
                (square(600.0), 0.6),
            ],
        );
        let s = Matches::of_frames(&[f]).summary();
        assert!(close(s.ap50, 56.0 / 101.0), "{s:?}");
        assert!(close(s.ap50_95, 56.0 / 101.0), "{s:?}");
        assert!(close(s.precision, 0.5) && close(s.recall, 2.0 / 3.0));
        assert_eq!((s.targets, s.detections, s.tp, s.fp), (3, 4, 2, 2));
        assert!(close(s.mean_iou, 1.0));
    }

    #[test]
    fn a_loose_hit_counts_at_the_thresholds_it_reaches() {
        // IoU 0.72: a hit at 0.50 … 0.70 (5 thresholds), a miss above; AP 1 then 0.
        let f = frame(
            &[[0.0, 0.0, 10.0, 10.0]],
            &[],
            &[([0.0, 0.0, 10.0, 7.2], 0.5)],
        );
        let s = Matches::of_frames(&[f]).summary();
        assert!(close(s.ap50, 1.0) && close(s.ap50_95, 0.5), "{s:?}");
        assert!(close(s.mean_iou, 0.72), "{s:?}");
    }

    #[test]
    fn ignored_gt_absorbs_detections_that_find_no_free_target() {
        // One target at 0 that also lies under an ignored region; an ignored box at 100.
        let f = frame(
            &[square(0.0)],
            &[square(0.0), square(100.0)],
            &[
                (square(0.0), 0.9),   // takes the target: TP
                (square(0.5), 0.8),   // target taken, but on the ignored region: ignored
                (square(100.0), 0.7), // on the ignored box: ignored
                (square(101.0), 0.6), // the same ignored box again: still ignored
                (square(200.0), 0.5), // nothing there: FP
            ],
        );
        let s = Matches::of_frames(&[f]).summary();
        assert_eq!((s.tp, s.fp, s.ignored), (1, 1, 3), "{s:?}");
        assert!(close(s.precision, 0.5));
        // Ranked TP, ign, ign, ign, FP: recall 1 is reached at precision 1.
        assert!(close(s.ap50, 1.0), "{s:?}");
    }

    #[test]
    fn the_ignore_region_uses_plain_iou_not_the_crowd_rule() {
        // A small box inside a big ignored region: its intersection over its own area is 1
        // (pycocotools' crowd rule would ignore it), its IoU 0.01: a false positive.
        let f = frame(
            &[square(500.0)],
            &[[0.0, 0.0, 100.0, 100.0]],
            &[([10.0, 10.0, 10.0, 10.0], 0.9)],
        );
        let s = Matches::of_frames(&[f]).summary();
        assert_eq!((s.tp, s.fp, s.ignored), (0, 1, 0));
    }

    #[test]
    fn a_detection_takes_the_best_free_target_and_ties_keep_file_order() {
        // Targets at 0 and 2; the first detection (IoU 0.67 and 1.0) takes the one at 2.
        // The second, with the same score, finds the target at 0 (IoU 0.82); the third, also
        // tied, finds both taken: a false positive.
        let f = frame(
            &[square(0.0), square(2.0)],
            &[],
            &[(square(2.0), 0.8), (square(1.0), 0.8), (square(2.0), 0.8)],
        );
        let m = Matches::of_frames(&[f]);
        let at_half: Vec<Outcome> = m.detections.iter().map(|d| d.1[0]).collect();
        assert_eq!(at_half[0], Outcome::Hit { iou: 1.0 });
        assert!(matches!(at_half[1], Outcome::Hit { iou } if (iou - 9.0 / 11.0).abs() < 1e-12));
        assert_eq!(at_half[2], Outcome::Miss);
    }

    #[test]
    fn combined_ranks_every_sequences_detections_together() {
        // Each sequence alone has AP 1; pooled, the miss of one outranks the hit of the other.
        let a = Matches::of_frames(&[frame(&[square(0.0)], &[], &[(square(0.0), 0.5)])]);
        let b = Matches::of_frames(&[frame(
            &[square(0.0)],
            &[],
            &[(square(0.0), 0.9), (square(50.0), 0.8)],
        )]);
        let rows = report(&[("a".into(), a), ("b".into(), b)]);
        assert!(close(rows[0].1.ap50, 1.0) && close(rows[1].1.ap50, 1.0));
        // Pooled: hit (0.9), miss (0.8), hit (0.5): recall 1/2 at precision 1, then 1 at 2/3.
        let expected = (51.0 + 50.0 * 2.0 / 3.0) / 101.0;
        assert_eq!(rows[2].0, "COMBINED");
        assert!(close(rows[2].1.ap50, expected), "{:?}", rows[2]);
        assert_eq!(rows[2].1.targets, 2);
    }

    #[test]
    fn figures_without_targets_or_detections_are_undefined() {
        let s = Matches::of_frames(&[FrameBoxes::default()]).summary();
        assert_eq!(
            (s.ap50, s.recall, s.precision, s.mean_iou),
            (None, None, None, None)
        );
    }

    fn gt(class: i64, consider: i64, visibility: f64) -> GtRow {
        GtRow {
            frame: 1,
            id: 1,
            tlwh: [0.0, 0.0, 10.0, 10.0],
            consider,
            class,
            visibility,
        }
    }

    #[test]
    fn gt_rows_become_targets_ignored_boxes_or_neither() {
        let rows = [
            gt(1, 1, 0.9),  // target
            gt(1, 1, 0.1),  // below the visibility bound: ignored
            gt(1, 0, 1.0),  // pedestrian marked not to score: ignored
            gt(7, 0, 1.0),  // static person: ignored
            gt(12, 0, 1.0), // reflection: ignored
            gt(3, 0, 1.0),  // car: neither
            GtRow {
                frame: 5, // past the sequence's end: dropped
                ..gt(1, 1, 1.0)
            },
        ];
        let det = DetectionRow {
            frame: 2,
            tlwh: square(0.0),
            score: 0.5,
        };
        let f = frames(&rows, &[det], 2, 0.25);
        assert_eq!((f[0].targets.len(), f[0].ignored.len()), (1, 4));
        assert_eq!(f[1].detections, vec![(square(0.0), 0.5)]);
        // MOT15: no classes, every row a pedestrian.
        let f = frames(&[gt(-1, 1, 1.0), gt(-1, 0, 1.0)], &[], 1, 0.0);
        assert_eq!((f[0].targets.len(), f[0].ignored.len()), (1, 1));
    }
}
