//! Class-aware greedy non-maximum suppression.

use crate::frame::Detection;
use crate::geom::BBox;

/// Keeps, per class, the highest-scoring boxes and drops any box that overlaps an already kept
/// box of the same class by more than `iou_threshold`. Output is sorted by descending score;
/// equal scores keep their input order, so results are reproducible.
pub fn nms(mut candidates: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(candidates.len().min(64));
    for cand in candidates {
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == cand.class_id && k.bbox.iou(&cand.bbox) > iou_threshold);
        if !suppressed {
            kept.push(cand);
        }
    }
    kept
}

/// NMS over the boxes of several regions of one frame (`(region, box)`: the whole frame and its
/// tiles), fusing the boxes it suppresses. Besides the IoU rule, a box is dropped when a kept
/// box of the same class from another region covers `cover` of it or more (intersection over
/// the smaller box): the same object seen whole in one region and framed differently in
/// another, which IoU alone lets through when one box is much smaller than the other.
///
/// Each kept box keeps its score but takes the score-weighted mean corners of the boxes it
/// suppressed by IoU, its own included (weighted box fusion): the regions see an object at
/// different scales, and their boxes' errors partly cancel. A box dropped only for being covered
/// frames part of the object and gets no say in its extent. On MOT17-mini with `auto` tiles,
/// fusing raises recall at 80 % precision from 58.0 to 61.3 %, and at every precision from 70 to
/// 90 %; fusing the covered boxes too does better there (62.5 %) but worse with 2x2 tiles, whose
/// seam cuts tall people in half. Within one region (no tiles) neighbouring boxes are not
/// independent views and fusing them does not help (36.9 → 35.9 %), so `nms` stays plain.
pub fn merge_regions(
    mut candidates: Vec<(usize, Detection)>,
    iou_threshold: f32,
    cover: f32,
) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut kept: Vec<(usize, Detection, Fusion)> = Vec::with_capacity(candidates.len().min(64));
    'candidates: for (region, cand) in candidates {
        for (r, k, fusion) in kept.iter_mut() {
            if k.class_id != cand.class_id {
                continue;
            }
            if k.bbox.iou(&cand.bbox) > iou_threshold {
                fusion.add(&cand);
                continue 'candidates;
            }
            if *r != region && covered(&k.bbox, &cand.bbox) >= cover {
                continue 'candidates;
            }
        }
        kept.push((region, cand, Fusion::of(&cand)));
    }
    kept.into_iter()
        .map(|(_, d, fusion)| Detection {
            bbox: fusion.mean(d.bbox),
            ..d
        })
        .collect()
}

/// The running score-weighted sum of a cluster's corners.
#[derive(Clone, Copy)]
struct Fusion {
    corners: [f32; 4],
    weight: f32,
}

impl Fusion {
    fn of(d: &Detection) -> Self {
        let mut fusion = Fusion {
            corners: [0.0; 4],
            weight: 0.0,
        };
        fusion.add(d);
        fusion
    }

    fn add(&mut self, d: &Detection) {
        let BBox { x1, y1, x2, y2 } = d.bbox;
        for (sum, corner) in self.corners.iter_mut().zip([x1, y1, x2, y2]) {
            *sum += d.score * corner;
        }
        self.weight += d.score;
    }

    /// The fused box; `first`'s own when no box had weight (scores of 0).
    fn mean(&self, first: BBox) -> BBox {
        if self.weight <= 0.0 {
            return first;
        }
        let [x1, y1, x2, y2] = self.corners.map(|sum| sum / self.weight);
        BBox::new(x1, y1, x2, y2)
    }
}

/// The intersection of two boxes over the smaller one's area.
fn covered(a: &BBox, b: &BBox) -> f32 {
    let smaller = a.area().min(b.area());
    if smaller > 0.0 {
        a.intersection(b) / smaller
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, score: f32, class_id: usize) -> Detection {
        Detection {
            bbox: BBox::new(x1, 0.0, x1 + 10.0, 10.0),
            score,
            class_id,
        }
    }

    #[test]
    fn suppresses_overlapping_boxes_of_the_same_class() {
        // IoU of boxes shifted by 1 px is 9/11 ≈ 0.82 > 0.45.
        let kept = nms(vec![det(1.0, 0.8, 0), det(0.0, 0.9, 0)], 0.45);
        assert_eq!(kept, vec![det(0.0, 0.9, 0)]);
    }

    #[test]
    fn keeps_overlapping_boxes_of_different_classes() {
        let kept = nms(vec![det(0.0, 0.9, 0), det(1.0, 0.8, 2)], 0.45);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn keeps_boxes_overlapping_at_or_below_threshold() {
        // Shift 5 px: IoU = 50/150 = 1/3.
        let kept = nms(vec![det(0.0, 0.9, 0), det(5.0, 0.8, 0)], 0.34);
        assert_eq!(kept.len(), 2);
        let kept = nms(vec![det(0.0, 0.9, 0), det(5.0, 0.8, 0)], 0.33);
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn a_suppressed_box_does_not_suppress_others() {
        // b overlaps a and c, a and c do not overlap: a kept, b dropped, c kept.
        let a = det(0.0, 0.9, 0);
        let b = det(4.0, 0.8, 0);
        let c = det(8.0, 0.7, 0);
        assert_eq!(nms(vec![c, b, a], 0.3), vec![a, c]);
    }

    #[test]
    fn regions_fuse_the_boxes_they_suppress_into_the_kept_ones_place() {
        let boxed = |x1: f32, y1: f32, x2: f32, y2: f32, score: f32| Detection {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            class_id: 0,
        };
        let whole = boxed(0.0, 0.0, 10.0, 20.0, 0.6);
        let tile = boxed(2.0, 1.0, 12.0, 22.0, 0.3);
        let elsewhere = boxed(50.0, 0.0, 60.0, 20.0, 0.2);
        // The top of `whole`, from another tile: covered, dropped, and no say in its extent.
        let part = boxed(0.0, 0.0, 10.0, 6.0, 0.5);
        let candidates = vec![(1, tile), (0, whole), (1, elsewhere), (2, part)];
        let kept = merge_regions(candidates, 0.45, 0.7);
        // Weights 0.6 and 0.3: two thirds of the way to the whole frame's corners.
        let fused = boxed(
            2.0 / 3.0,
            1.0 / 3.0,
            10.0 + 2.0 / 3.0,
            20.0 + 2.0 / 3.0,
            0.6,
        );
        assert_eq!(kept.len(), 2);
        for (got, want) in [(kept[0].bbox, fused.bbox), (kept[1].bbox, elsewhere.bbox)] {
            let (got, want) = (
                [got.x1, got.y1, got.x2, got.y2],
                [want.x1, want.y1, want.x2, want.y2],
            );
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5),
                "{got:?} {want:?}"
            );
        }
        assert_eq!(kept[0].score, 0.6);
    }
}
