//! Decoding of YOLOX heads: per grid cell `(dx, dy, log w, log h, objectness, class scores…)`
//! on strides 8, 16 and 32, with no NMS in the graph.

use crate::error::{Error, Result};
use crate::frame::Detection;
use crate::geom::BBox;
use crate::preprocess::Letterbox;

const STRIDES: [usize; 3] = [8, 16, 32];

/// Grid layout of a YOLOX model for a given input size.
#[derive(Clone, Debug)]
pub struct YoloxLayout {
    /// Per anchor: (grid x, grid y, stride), in the graph's output order.
    anchors: Vec<(f32, f32, f32)>,
    pub num_classes: usize,
}

impl YoloxLayout {
    /// Checks an output shape `[1, anchors, 5 + classes]` against the input size.
    pub fn new(input_w: usize, input_h: usize, output_shape: &[i64]) -> Result<Self> {
        let mut anchors = Vec::new();
        for s in STRIDES {
            for gy in 0..input_h / s {
                for gx in 0..input_w / s {
                    anchors.push((gx as f32, gy as f32, s as f32));
                }
            }
        }
        let expected = format!("[1, {}, 5+classes]", anchors.len());
        match output_shape {
            [1, n, c] if *n as usize == anchors.len() && *c > 5 => {
                Ok(Self { anchors, num_classes: *c as usize - 5 })
            }
            _ => Err(Error::input(format!(
                "output shape {output_shape:?} is not a YOLOX head for a {input_w}x{input_h} input (expected {expected})"
            ))),
        }
    }

    pub fn row_len(&self) -> usize {
        5 + self.num_classes
    }

    /// Boxes scoring above `min_score` (score = objectness × best class score), mapped back to
    /// source pixels through the letterbox. `keep_class` filters by class before NMS.
    pub fn decode(
        &self,
        output: &[f32],
        letterbox: &Letterbox,
        min_score: f32,
        keep_class: impl Fn(usize) -> bool,
    ) -> Vec<Detection> {
        let row_len = self.row_len();
        let mut out = Vec::new();
        for (row, &(gx, gy, stride)) in output.chunks_exact(row_len).zip(&self.anchors) {
            let objectness = row[4];
            if objectness <= min_score {
                continue; // class scores are ≤ 1, so the product cannot exceed min_score
            }
            let (class_id, class_score) =
                row[5..]
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::MIN),
                        |best, (i, &s)| if s > best.1 { (i, s) } else { best },
                    );
            let score = objectness * class_score;
            if score <= min_score || !keep_class(class_id) {
                continue;
            }
            let cx = (row[0] + gx) * stride;
            let cy = (row[1] + gy) * stride;
            let w = row[2].exp() * stride;
            let h = row[3].exp() * stride;
            out.push(Detection {
                bbox: letterbox.to_source(BBox::from_cxcywh(cx, cy, w, h)),
                score,
                class_id,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_shapes_that_are_not_a_yolox_head() {
        assert!(YoloxLayout::new(416, 416, &[1, 3549, 85]).is_ok());
        assert!(YoloxLayout::new(416, 416, &[1, 84, 8400]).is_err());
        assert!(YoloxLayout::new(640, 640, &[1, 3549, 85]).is_err());
        assert!(YoloxLayout::new(416, 416, &[1, 3549]).is_err());
    }

    #[test]
    fn decodes_one_cell_on_each_stride() {
        let layout = YoloxLayout::new(64, 64, &[1, 64 + 16 + 4, 7]).unwrap();
        let mut out = vec![0.0f32; layout.anchors.len() * 7];
        // Cell (1, 2) of stride 8 is anchor 2*8+1 = 17: offset 0.5, size exp(0)=1 stride.
        out[17 * 7..18 * 7].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.2, 0.8]);
        let lb = Letterbox {
            scale: 0.5,
            offset_x: 0.0,
            offset_y: 0.0,
        };
        let dets = layout.decode(&out, &lb, 0.1, |_| true);
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!(d.class_id, 1);
        assert!((d.score - 0.72).abs() < 1e-6);
        // centre (1.5*8, 2.5*8) = (12, 20), size 8 → (8,16)-(16,24), then /0.5.
        assert_eq!(d.bbox, BBox::new(16.0, 32.0, 32.0, 48.0));
        assert!(layout.decode(&out, &lb, 0.1, |c| c != 1).is_empty());
        assert!(layout.decode(&out, &lb, 0.75, |_| true).is_empty());
    }
}
