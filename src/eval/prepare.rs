//! MOTChallenge preprocessing, as TrackEval's `MotChallenge2DBox` does it, and the per-frame IoU
//! matrices every metric works from.

use std::collections::BTreeMap;

use super::input::{GtRow, ResultRow};
use super::EPS;
use crate::assignment::{max_weight_matching, Weights};

/// Gt classes whose matched tracker boxes are removed before scoring (MOT17): person on
/// vehicle, static person, distractor, reflection.
pub(super) const DISTRACTOR_CLASSES: [i64; 4] = [2, 7, 8, 12];
pub(super) const PEDESTRIAN: i64 = 1;

/// Whether a gt file has MOT17 classes on every row; MOT15's have none (or world coordinates in
/// that column), and every row there is a pedestrian.
pub(super) fn has_classes(gt: &[GtRow]) -> bool {
    !gt.is_empty() && gt.iter().all(|r| r.class != -1)
}

/// One frame after preprocessing: ids relabelled to `0..num_*_ids`, and the gt × tracker IoUs.
#[derive(Clone, Debug, Default)]
pub struct FrameData {
    pub gt_ids: Vec<usize>,
    pub tracker_ids: Vec<usize>,
    /// Row-major, `gt_ids.len()` × `tracker_ids.len()`.
    pub similarity: Vec<f64>,
}

impl FrameData {
    pub fn sim(&self, g: usize, t: usize) -> f64 {
        self.similarity[g * self.tracker_ids.len() + t]
    }
}

#[derive(Clone, Debug, Default)]
pub struct Prepared {
    pub frames: Vec<FrameData>,
    pub num_gt_ids: usize,
    pub num_tracker_ids: usize,
    pub num_gt_dets: usize,
    pub num_tracker_dets: usize,
}

/// Builds the evaluation data for a sequence of `length` frames. Rows beyond `length` are
/// ignored, as TrackEval ignores them. A gt file without MOT17 classes on every row (MOT15) is
/// scored without class filtering or distractor removal, as TrackEval's MOT15 benchmark is.
pub fn prepare(gt: &[GtRow], results: &[ResultRow], length: u64) -> Prepared {
    let has_classes = has_classes(gt);
    let mut gt_by_frame: Vec<Vec<&GtRow>> = vec![Vec::new(); length as usize];
    for row in gt.iter().filter(|r| r.frame <= length) {
        gt_by_frame[row.frame as usize - 1].push(row);
    }
    let mut res_by_frame: Vec<Vec<&ResultRow>> = vec![Vec::new(); length as usize];
    for row in results.iter().filter(|r| r.frame <= length) {
        res_by_frame[row.frame as usize - 1].push(row);
    }

    let mut frames = Vec::with_capacity(length as usize);
    let (mut gt_labels, mut tracker_labels) = (BTreeMap::new(), BTreeMap::new());
    for (gts, mut tracks) in gt_by_frame.into_iter().zip(res_by_frame) {
        let iou = |g: &GtRow, t: &ResultRow| box_iou(&g.tlwh, &t.tlwh);
        if has_classes && !gts.is_empty() && !tracks.is_empty() {
            // Tracker boxes that match (IoU ≥ 0.5, optimally) a distractor gt are not scored.
            let w = Weights::from_fn(gts.len(), tracks.len(), |g, t| {
                let s = iou(gts[g], tracks[t]);
                if s < 0.5 - EPS {
                    0.0
                } else {
                    s
                }
            });
            let mut remove: Vec<usize> = max_weight_matching(&w)
                .into_iter()
                .filter(|&(g, _)| DISTRACTOR_CLASSES.contains(&gts[g].class))
                .map(|(_, t)| t)
                .collect();
            remove.sort_unstable();
            for t in remove.into_iter().rev() {
                tracks.remove(t);
            }
        }
        let kept: Vec<&GtRow> = gts
            .into_iter()
            .filter(|g| g.consider != 0 && (!has_classes || g.class == PEDESTRIAN))
            .collect();
        let mut similarity = Vec::with_capacity(kept.len() * tracks.len());
        for g in &kept {
            for t in &tracks {
                similarity.push(iou(g, t));
            }
        }
        for g in &kept {
            gt_labels.insert(g.id, 0);
        }
        for t in &tracks {
            tracker_labels.insert(t.id, 0);
        }
        frames.push((
            kept.iter().map(|g| g.id).collect::<Vec<_>>(),
            tracks.iter().map(|t| t.id).collect::<Vec<_>>(),
            similarity,
        ));
    }
    // Contiguous labels in sorted id order, as TrackEval relabels them.
    for (i, v) in gt_labels.values_mut().enumerate() {
        *v = i;
    }
    for (i, v) in tracker_labels.values_mut().enumerate() {
        *v = i;
    }
    let frames: Vec<FrameData> = frames
        .into_iter()
        .map(|(g, t, similarity)| FrameData {
            gt_ids: g.iter().map(|id| gt_labels[id]).collect(),
            tracker_ids: t.iter().map(|id| tracker_labels[id]).collect(),
            similarity,
        })
        .collect();
    Prepared {
        num_gt_dets: frames.iter().map(|f| f.gt_ids.len()).sum(),
        num_tracker_dets: frames.iter().map(|f| f.tracker_ids.len()).sum(),
        num_gt_ids: gt_labels.len(),
        num_tracker_ids: tracker_labels.len(),
        frames,
    }
}

/// IoU of two `[x, y, w, h]` boxes with TrackEval's guards for empty boxes.
fn box_iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let (ax2, ay2, bx2, by2) = (a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]);
    let inter = (ax2.min(bx2) - a[0].max(b[0])).max(0.0) * (ay2.min(by2) - a[1].max(b[1])).max(0.0);
    let (area_a, area_b) = ((ax2 - a[0]) * (ay2 - a[1]), (bx2 - b[0]) * (by2 - b[1]));
    let union = area_a + area_b - inter;
    if area_a <= EPS || area_b <= EPS || union <= EPS {
        return 0.0;
    }
    inter / union
}

/// Ids must be unique within a frame; TrackEval refuses such files too.
pub fn duplicate_id(frames_ids: impl Iterator<Item = (u64, i64)>) -> Option<(u64, i64)> {
    let mut seen = std::collections::HashSet::new();
    frames_ids.into_iter().find(|key| !seen.insert(*key))
}
