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
/// tiles). Besides the IoU rule, a box is dropped when a kept box of the same class from another
/// region covers `cover` of it or more (intersection over the smaller box): the same object
/// seen whole in one region and framed differently in another, which IoU alone lets through
/// when one box is much smaller than the other.
pub fn merge_regions(
    mut candidates: Vec<(usize, Detection)>,
    iou_threshold: f32,
    cover: f32,
) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut kept: Vec<(usize, Detection)> = Vec::with_capacity(candidates.len().min(64));
    for (region, cand) in candidates {
        let suppressed = kept.iter().any(|(r, k)| {
            k.class_id == cand.class_id
                && (k.bbox.iou(&cand.bbox) > iou_threshold
                    || (*r != region && covered(&k.bbox, &cand.bbox) >= cover))
        });
        if !suppressed {
            kept.push((region, cand));
        }
    }
    kept.into_iter().map(|(_, d)| d).collect()
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
}
