//! Decoders of the output layouts other than YOLOX's (`yolox.rs`): the Ultralytics heads
//! (YOLOv5, YOLOv8/YOLO11, end-to-end) and graphs with separate boxes, scores and labels.
//! Every decoder returns boxes in source pixels, mapped back through the letterbox.

use super::yolox::YoloxLayout;
use crate::frame::Detection;
use crate::geom::BBox;
use crate::preprocess::Letterbox;

/// One input or output of a graph (family.rs reads a model's ports; the decoders here find
/// their outputs among them): its name and shape (negative for a dynamic dimension).
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub shape: Vec<i64>,
}

/// How a frame's raw outputs become detections.
#[derive(Clone, Debug)]
pub enum Head {
    Yolox(YoloxLayout),
    Ultralytics(UltralyticsHead),
    BoxesScoresLabels(BoxesScoresLabels),
}

/// What a decoder needs besides the outputs.
pub struct DecodeContext<'a> {
    pub letterbox: &'a Letterbox,
    /// The network's input size, to scale normalised coordinates.
    pub input_width: usize,
    pub input_height: usize,
    /// Detections must score above this.
    pub min_score: f32,
    pub keep_class: &'a dyn Fn(usize) -> bool,
}

impl DecodeContext<'_> {
    fn detection(&self, bbox_in_input: BBox, score: f32, class_id: usize) -> Option<Detection> {
        (score > self.min_score && (self.keep_class)(class_id)).then(|| Detection {
            bbox: self.letterbox.to_source(bbox_in_input),
            score,
            class_id,
        })
    }
}

impl Head {
    /// Classes the head predicts, when its shape tells.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Head::Yolox(layout) => Some(layout.num_classes),
            Head::Ultralytics(head) => head.num_classes,
            Head::BoxesScoresLabels(_) => None,
        }
    }

    /// True when the graph has already suppressed overlapping boxes (no NMS after it).
    pub fn is_suppressed(&self) -> bool {
        match self {
            Head::Yolox(_) => false,
            Head::Ultralytics(head) => head.kind == UltralyticsKind::EndToEnd,
            Head::BoxesScoresLabels(_) => true,
        }
    }

    /// Detections in one frame's outputs (one `Vec` per graph output, in the graph's order).
    pub fn decode(
        &self,
        outputs: &[Vec<f32>],
        cx: &DecodeContext,
    ) -> Result<Vec<Detection>, String> {
        match self {
            Head::Yolox(layout) => {
                let out = first(outputs)?;
                if !out.len().is_multiple_of(layout.row_len()) {
                    return Err(format!("output of {} values is not whole rows", out.len()));
                }
                Ok(layout.decode(out, cx.letterbox, cx.min_score, cx.keep_class))
            }
            Head::Ultralytics(head) => head.decode(first(outputs)?, cx),
            Head::BoxesScoresLabels(head) => head.decode(outputs, cx),
        }
    }
}

fn first(outputs: &[Vec<f32>]) -> Result<&[f32], String> {
    outputs
        .first()
        .map(Vec::as_slice)
        .ok_or_else(|| "the model returned no output".to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UltralyticsKind {
    /// Rows `cx, cy, w, h, objectness, class scores…`.
    V5,
    /// Channels first: `cx, cy, w, h, class scores…` each a row over all cells.
    V8,
    /// Rows `x1, y1, x2, y2, score, class`.
    EndToEnd,
}

/// An Ultralytics head; boxes are in input pixels already (no grid decode).
#[derive(Clone, Debug)]
pub struct UltralyticsHead {
    pub kind: UltralyticsKind,
    pub num_classes: Option<usize>,
}

impl UltralyticsHead {
    pub fn yolov5(shape: &[i64]) -> Result<Self, String> {
        match shape {
            [1, _, c] if *c > 5 => Ok(Self {
                kind: UltralyticsKind::V5,
                num_classes: Some(*c as usize - 5),
            }),
            _ => Err(format!(
                "output {shape:?} is not a YOLOv5 head [1, N, 5 + classes]"
            )),
        }
    }

    pub fn yolov8(shape: &[i64]) -> Result<Self, String> {
        match shape {
            [1, c, _] if *c > 4 => Ok(Self {
                kind: UltralyticsKind::V8,
                num_classes: Some(*c as usize - 4),
            }),
            _ => Err(format!(
                "output {shape:?} is not a YOLOv8 head [1, 4 + classes, N]"
            )),
        }
    }

    pub fn end_to_end(shape: &[i64]) -> Result<Self, String> {
        match shape {
            [1, _, 6] => Ok(Self {
                kind: UltralyticsKind::EndToEnd,
                num_classes: None,
            }),
            _ => Err(format!(
                "output {shape:?} is not an end-to-end head [1, N, 6]"
            )),
        }
    }

    fn decode(&self, out: &[f32], cx: &DecodeContext) -> Result<Vec<Detection>, String> {
        let row = match self.kind {
            UltralyticsKind::V5 => 5 + self.num_classes.unwrap_or(0),
            UltralyticsKind::V8 => 4 + self.num_classes.unwrap_or(0),
            UltralyticsKind::EndToEnd => 6,
        };
        if !out.len().is_multiple_of(row) {
            return Err(format!("output of {} values is not whole rows", out.len()));
        }
        Ok(match self.kind {
            UltralyticsKind::V5 => out
                .chunks_exact(row)
                .filter_map(|r| {
                    let (class_id, class_score) = best(&r[5..]);
                    let b = BBox::from_cxcywh(r[0], r[1], r[2], r[3]);
                    cx.detection(b, r[4] * class_score, class_id)
                })
                .collect(),
            UltralyticsKind::V8 => decode_channels_first(out, row, cx),
            UltralyticsKind::EndToEnd => out
                .chunks_exact(row)
                .filter_map(|r| {
                    let class_id = class_index(r[5])?;
                    cx.detection(BBox::new(r[0], r[1], r[2], r[3]), r[4], class_id)
                })
                .collect(),
        })
    }
}

/// `[4 + C, N]`: the best class of each cell is found a class row at a time, so that memory is
/// read in order.
fn decode_channels_first(out: &[f32], channels: usize, cx: &DecodeContext) -> Vec<Detection> {
    let cells = out.len() / channels;
    let mut best_score = vec![f32::MIN; cells];
    let mut best_class = vec![0usize; cells];
    for class in 0..channels - 4 {
        let row = &out[(4 + class) * cells..(5 + class) * cells];
        for (i, &s) in row.iter().enumerate() {
            if s > best_score[i] {
                best_score[i] = s;
                best_class[i] = class;
            }
        }
    }
    let at = |channel: usize, i: usize| out[channel * cells + i];
    (0..cells)
        .filter(|&i| best_score[i] > cx.min_score)
        .filter_map(|i| {
            let b = BBox::from_cxcywh(at(0, i), at(1, i), at(2, i), at(3, i));
            cx.detection(b, best_score[i], best_class[i])
        })
        .collect()
}

/// The index and value of the largest score (the first of equals).
fn best(scores: &[f32]) -> (usize, f32) {
    scores
        .iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &s)| if s > b.1 { (i, s) } else { b })
}

/// A class id carried as a float: whole and non-negative, else the row is skipped.
fn class_index(value: f32) -> Option<usize> {
    (value >= 0.0 && value.fract() == 0.0 && value < 1e6).then_some(value as usize)
}

/// Which outputs hold the boxes, scores and labels.
#[derive(Clone, Debug)]
pub struct BoxesScoresLabels {
    boxes: usize,
    scores: usize,
    labels: usize,
}

impl BoxesScoresLabels {
    /// Finds the three outputs by name (`*box*`, `*score*`, `*label*` or `*class*`); the boxes
    /// must end in 4 coordinates.
    pub fn find(outputs: &[Port]) -> Result<Self, String> {
        let named = |words: &[&str]| {
            outputs.iter().position(|p| {
                let name = p.name.to_ascii_lowercase();
                words.iter().any(|w| name.contains(w))
            })
        };
        let (Some(boxes), Some(scores), Some(labels)) = (
            named(&["box"]),
            named(&["score"]),
            named(&["label", "class"]),
        ) else {
            return Err("the outputs are not named boxes, scores and labels".into());
        };
        if outputs[boxes].shape.last() != Some(&4) {
            return Err(format!(
                "output '{}' has shape {:?}, not […, 4] boxes",
                outputs[boxes].name, outputs[boxes].shape
            ));
        }
        Ok(Self {
            boxes,
            scores,
            labels,
        })
    }

    fn decode(&self, outputs: &[Vec<f32>], cx: &DecodeContext) -> Result<Vec<Detection>, String> {
        let get = |i: usize| {
            outputs
                .get(i)
                .ok_or_else(|| format!("the model returned no output {i}"))
        };
        let (boxes, scores, labels) = (get(self.boxes)?, get(self.scores)?, get(self.labels)?);
        let n = scores.len();
        if boxes.len() != 4 * n || labels.len() != n {
            return Err(format!(
                "{} box values, {} scores and {} labels do not describe the same boxes",
                boxes.len(),
                n,
                labels.len()
            ));
        }
        // Coordinates within 0–1.5 are fractions of the input (SSD style), not pixels.
        let normalised = boxes.iter().all(|v| v.abs() <= 1.5);
        let (sx, sy) = if normalised {
            (cx.input_width as f32, cx.input_height as f32)
        } else {
            (1.0, 1.0)
        };
        Ok(boxes
            .chunks_exact(4)
            .zip(scores.iter().zip(labels))
            .filter_map(|(b, (&score, &label))| {
                let bbox = BBox::new(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy);
                cx.detection(bbox, score, class_index(label)?)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: Letterbox = Letterbox {
        scale: 0.5,
        offset_x: 0.0,
        offset_y: 10.0,
    };

    fn context<'a>(keep: &'a dyn Fn(usize) -> bool) -> DecodeContext<'a> {
        DecodeContext {
            letterbox: &HALF,
            input_width: 100,
            input_height: 200,
            min_score: 0.25,
            keep_class: keep,
        }
    }

    #[test]
    fn yolov5_rows_multiply_objectness_and_class() {
        let head = Head::Ultralytics(UltralyticsHead::yolov5(&[1, 2, 7]).unwrap());
        let out = vec![vec![
            50.0, 60.0, 20.0, 40.0, 0.9, 0.2, 0.8, 10.0, 10.0, 4.0, 4.0, 0.2, 0.9, 0.9,
        ]];
        let all = |_: usize| true;
        let d = head.decode(&out, &context(&all)).unwrap();
        assert_eq!(d.len(), 1, "the second row scores 0.18");
        assert_eq!(d[0].class_id, 1);
        assert!((d[0].score - 0.72).abs() < 1e-6);
        // (40, 40)-(60, 80) in the input; minus the 10 px top pad, over 0.5.
        assert_eq!(d[0].bbox, BBox::new(80.0, 60.0, 120.0, 140.0));
    }

    #[test]
    fn yolov8_channels_first_take_the_best_class() {
        let head = Head::Ultralytics(UltralyticsHead::yolov8(&[1, 6, 3]).unwrap());
        // Three cells; channels cx, cy, w, h, class 0, class 1.
        let out = vec![vec![
            10.0, 50.0, 90.0, // cx
            20.0, 60.0, 90.0, // cy
            4.0, 10.0, 2.0, // w
            8.0, 20.0, 2.0, // h
            0.1, 0.3, 0.2, // class 0
            0.6, 0.2, 0.1, // class 1
        ]];
        let not_one = |c: usize| c != 1;
        let all = |_: usize| true;
        let d = head.decode(&out, &context(&all)).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].class_id, d[0].score), (1, 0.6));
        assert_eq!(d[0].bbox, BBox::new(16.0, 12.0, 24.0, 28.0));
        assert_eq!((d[1].class_id, d[1].score), (0, 0.3));
        assert_eq!(head.decode(&out, &context(&not_one)).unwrap().len(), 1);
        assert!(head.decode(&[vec![0.0; 17]], &context(&all)).is_err());
    }

    #[test]
    fn end_to_end_rows_are_taken_as_they_are() {
        let head = Head::Ultralytics(UltralyticsHead::end_to_end(&[1, 3, 6]).unwrap());
        assert!(head.is_suppressed());
        let out = vec![vec![
            10.0, 20.0, 30.0, 40.0, 0.9, 2.0, //
            0.0, 0.0, 1.0, 1.0, 0.1, 0.0, // below the score
            5.0, 5.0, 6.0, 6.0, 0.8, 1.5, // not a class index
        ]];
        let all = |_: usize| true;
        let d = head.decode(&out, &context(&all)).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].class_id, 2);
        assert_eq!(d[0].bbox, BBox::new(20.0, 20.0, 60.0, 60.0));
    }

    #[test]
    fn separate_outputs_in_pixels_or_fractions() {
        let port = |name: &str, shape: &[i64]| Port {
            name: name.into(),
            shape: shape.to_vec(),
        };
        let outputs = [
            port("detection_scores", &[1, 2]),
            port("detection_boxes", &[1, 2, 4]),
            port("classes", &[1, 2]),
        ];
        let head = Head::BoxesScoresLabels(BoxesScoresLabels::find(&outputs).unwrap());
        let unnamed = [
            port("a", &[1, 2, 4]),
            port("b", &[1, 2]),
            port("c", &[1, 2]),
        ];
        assert!(BoxesScoresLabels::find(&unnamed).is_err());
        let all = |_: usize| true;
        // Output order here: scores, boxes, labels.
        let fractions = vec![
            vec![0.9, 0.1],
            vec![0.1, 0.1, 0.5, 0.5, 0.0, 0.0, 1.0, 1.0],
            vec![3.0, 1.0],
        ];
        let d = head.decode(&fractions, &context(&all)).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].class_id, 3);
        // (10, 20)-(50, 100) of a 100×200 input.
        assert_eq!(d[0].bbox, BBox::new(20.0, 20.0, 100.0, 180.0));
        let pixels = vec![vec![0.9], vec![10.0, 20.0, 50.0, 100.0], vec![0.0]];
        let d = head.decode(&pixels, &context(&all)).unwrap();
        assert_eq!(d[0].bbox, BBox::new(20.0, 20.0, 100.0, 180.0));
        let mismatched = vec![vec![0.9, 0.5], vec![10.0, 20.0, 50.0, 100.0], vec![0.0]];
        assert!(head.decode(&mismatched, &context(&all)).is_err());
    }
}
