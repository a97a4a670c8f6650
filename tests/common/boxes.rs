//! Comparing two detectors' boxes within what float32 arithmetic can promise across machines.
//!
//! Why not equality: the boxes come out of ONNX Runtime's float32 convolutions, whose kernels
//! (AVX2, AVX-512, VNNI) and summation order differ with the CPU, the thread count and the graph
//! optimisations, and out of an OpenCV resize whose version may differ. So a coordinate moves by
//! a few units in the last place of the network's outputs, times the letterbox's magnification;
//! a score moves likewise, and a box whose score sits at the threshold, or whose overlap sits at
//! the NMS threshold, may be kept on one machine and not on another.
//!
//! So two sets agree when every box of one has a box of the same class in the other within the
//! coordinate and score tolerances, except boxes that are *borderline*: a score within the score
//! tolerance of the confidence threshold, an overlap within `IOU_SLACK` of the NMS threshold with
//! a box of its class, or an overlap with an unmatched box of the other set that could have
//! suppressed it (a flip upstream). A skipped NMS, a swapped channel order, a wrong scale or a
//! half-pixel shift still fail: their boxes move by far more than the tolerance, or come in
//! clusters of overlaps far above the NMS threshold.

use std::collections::BTreeMap;
use std::path::Path;

use vigil::geom::BBox;

/// Corner tolerance in pixels of the network's *input*, turned into source pixels by dividing by
/// the letterbox scale (a 1920-wide frame shrunk to 416 magnifies an input error 4.6 times).
///
/// Why 0.05: a corner is `(offset + cell) × stride` or `exp(size) × stride` of a float32 output
/// whose value took tens of layers of 3×3×C sums (C up to 256): reordering a sum of K float32
/// terms moves it by up to about √K units in the last place of its largest terms, the error
/// compounds through the layers, and a stride of 32 magnifies it. The worst seen on one machine
/// between ONNX Runtime settings that change kernels and summation order is 3.2e-4 input px
/// (`tests/detector_golden.rs` measures it every run and fails if 0.05 is under ten times it);
/// the reference, made on another CPU with another OpenCV, is 2.8e-4 input px away on the worst
/// machine reported (1.3e-3 source px on MOT17-09, scale 0.217). 0.05 is over ten times both and
/// a tenth of a half-pixel centring error, so a real bug (a half-pixel shift, the wrong scale or
/// padding, a channel swap) still fails.
pub const INPUT_PX: f32 = 0.05;

/// Score tolerance. Scores are products of sigmoids of float32 logits (slope at most 1/4), so
/// they move by about a quarter of the logits' error: at most 1.7e-6 between settings here. 1e-3
/// is far over ten times that and far under what a channel swap or a wrong normalisation does to
/// a score (tenths).
pub const SCORE: f32 = 1e-3;

/// How far an overlap may move across machines: two boxes of 40 px whose corners move by 0.05 px
/// change their IoU by about 4 × 0.05 / 40 = 0.005; twice that.
pub const IOU_SLACK: f32 = 0.01;

/// One detection as compared: corners in source pixels, score, class.
#[derive(Clone, Copy, Debug)]
pub struct Compared {
    pub bbox: BBox,
    pub score: f32,
    pub class: usize,
}

impl From<&vigil::frame::Detection> for Compared {
    fn from(d: &vigil::frame::Detection) -> Self {
        Self {
            bbox: d.bbox,
            score: d.score,
            class: d.class_id,
        }
    }
}

impl Compared {
    /// A reference row `[x1, y1, x2, y2, score, class]`.
    pub fn from_row(row: &[f64]) -> Self {
        Self {
            bbox: BBox::new(row[0] as f32, row[1] as f32, row[2] as f32, row[3] as f32),
            score: row[4] as f32,
            class: row[5] as usize,
        }
    }

    fn corner_error(&self, other: &Compared) -> f32 {
        let (a, b) = (self.bbox, other.bbox);
        [a.x1 - b.x1, a.y1 - b.y1, a.x2 - b.x2, a.y2 - b.y2]
            .iter()
            .fold(0.0f32, |m, d| m.max(d.abs()))
    }
}

/// What two runs may differ by.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Largest corner difference, source pixels.
    pub px: f32,
    /// Largest score difference.
    pub score: f32,
    /// The runs' confidence threshold.
    pub conf: f32,
    /// The runs' NMS threshold.
    pub iou: f32,
}

impl Tolerance {
    /// For a network's boxes in a source whose letterbox scale is `scale`, run at `conf`/`iou`.
    pub fn of_network(scale: f32, conf: f32, iou: f32) -> Self {
        Self {
            px: INPUT_PX / scale,
            score: SCORE,
            conf,
            iou,
        }
    }

    /// The same for boxes read back from a MOTChallenge text file: x, y, w and h are rounded to
    /// 2 decimals (x + w carries two roundings of 0.005) and scores to 4.
    pub fn written(self) -> Self {
        Self {
            px: self.px + 0.01,
            score: self.score + 5e-5,
            ..self
        }
    }
}

/// A det file's rows (`frame,-1,x,y,w,h,score,…`) by frame, all of class 0 (det files carry no
/// class: the runs compared keep one).
pub fn det_file(path: &Path) -> BTreeMap<u64, Vec<Compared>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames: BTreeMap<u64, Vec<Compared>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<f64> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
        frames
            .entry(f[0] as u64)
            .or_default()
            .push(Compared::from_row(&[
                f[2],
                f[3],
                f[2] + f[4],
                f[3] + f[5],
                f[6],
                0.0,
            ]));
    }
    frames
}

/// How two sets agreed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Agreement {
    pub matched: usize,
    /// Borderline boxes found on one side only.
    pub one_sided: usize,
    /// Largest corner difference of a matched pair, source pixels.
    pub max_px: f32,
    /// Largest score difference of a matched pair.
    pub max_score: f32,
}

/// Whether `ours` agrees with `reference` within `tol`; the error names the first box that does
/// not, and its nearest counterpart.
pub fn agree(
    ours: &[Compared],
    reference: &[Compared],
    tol: &Tolerance,
) -> Result<Agreement, String> {
    let mut agreement = Agreement::default();
    let mut taken = vec![false; ours.len()];
    let mut ref_matched = vec![false; reference.len()];
    // The most confident first, so a near tie between two overlapping boxes is decided as NMS does.
    let mut order: Vec<usize> = (0..reference.len()).collect();
    order.sort_by(|&a, &b| reference[b].score.total_cmp(&reference[a].score));
    let mut nearest = vec![None; reference.len()];
    for &r in &order {
        let want = &reference[r];
        let best = (0..ours.len())
            .filter(|&i| !taken[i] && ours[i].class == want.class)
            .min_by(|&a, &b| {
                ours[a]
                    .corner_error(want)
                    .total_cmp(&ours[b].corner_error(want))
            });
        let Some(i) = best else { continue };
        let (px, score) = (
            ours[i].corner_error(want),
            (ours[i].score - want.score).abs(),
        );
        nearest[r] = Some((i, px, score));
        if px <= tol.px && score <= tol.score {
            taken[i] = true;
            ref_matched[r] = true;
            agreement.matched += 1;
            agreement.max_px = agreement.max_px.max(px);
            agreement.max_score = agreement.max_score.max(score);
        }
    }
    let ours_left: Vec<Compared> = (0..ours.len())
        .filter(|&i| !taken[i])
        .map(|i| ours[i])
        .collect();
    let ref_left: Vec<Compared> = (0..reference.len())
        .filter(|&r| !ref_matched[r])
        .map(|r| reference[r])
        .collect();
    for (r, want) in reference.iter().enumerate() {
        if ref_matched[r] || borderline(want, reference, &ours_left, tol) {
            continue;
        }
        return Err(match nearest[r] {
            Some((i, px, score)) => describe(want, &ours[i], px, score, tol),
            None => format!(
                "reference {:?} score {} class {}: no box of its class",
                want.bbox, want.score, want.class
            ),
        });
    }
    // Flips are rare (none in 12 settings × 58 images here), so many boxes on one side means the
    // runs disagree, whatever their scores: a box moved by more than the tolerance leaves two
    // one-sided boxes at a near "tie" with each other.
    let allowed = |n: usize| 2 + n / 20;
    if ref_left.len() > allowed(reference.len()) || ours_left.len() > allowed(ours.len()) {
        let detail = (0..reference.len())
            .filter(|&r| !ref_matched[r])
            .find_map(|r| nearest[r].map(|n| describe(&reference[r], &ours[n.0], n.1, n.2, tol)))
            .map(|d| format!("; e.g. {d}"))
            .unwrap_or_default();
        return Err(format!(
            "{} of {} reference boxes and {} of {} boxes found on one side only{detail}",
            ref_left.len(),
            reference.len(),
            ours_left.len(),
            ours.len()
        ));
    }
    for extra in &ours_left {
        if !borderline(extra, ours, &ref_left, tol) {
            return Err(format!(
                "box {:?} score {} class {} is not in the reference, and neither its score nor its overlaps are near a threshold",
                extra.bbox, extra.score, extra.class
            ));
        }
    }
    agreement.one_sided = ours_left.len() + ref_left.len();
    Ok(agreement)
}

/// Whether `b`, found in `own` but not in the other run, may be missing there: its score at the
/// confidence threshold or an overlap with a box of its own run at the NMS threshold (a flip of
/// its own), or an overlap above the NMS threshold with one of the other run's unmatched boxes
/// that there suppressed it: one at a near tie with it (NMS chose the other of the two), or one
/// with a flip of its own (which here was not kept, so it did not suppress `b`).
fn borderline(
    b: &Compared,
    own: &[Compared],
    others_unmatched: &[Compared],
    tol: &Tolerance,
) -> bool {
    let flips = |c: &Compared, run: &[Compared]| {
        c.score <= tol.conf + tol.score
            || run
                .iter()
                .filter(|o| o.class == c.class)
                .any(|o| (o.bbox.iou(&c.bbox) - tol.iou).abs() <= IOU_SLACK)
    };
    flips(b, own)
        || others_unmatched.iter().any(|o| {
            o.class == b.class
                && o.bbox.iou(&b.bbox) > tol.iou - IOU_SLACK
                && ((o.score - b.score).abs() <= tol.score || flips(o, others_unmatched))
        })
}

fn describe(want: &Compared, got: &Compared, px: f32, score: f32, tol: &Tolerance) -> String {
    format!(
        "reference {:?} score {} class {}: nearest box {:?} score {} (corner error {px} px, score error {score}; tolerance {} px, {})",
        want.bbox, want.score, want.class, got.bbox, got.score, tol.px, tol.score
    )
}

/// `rows` with every corner moved by `px`, alternately outwards and inwards.
pub fn perturbed(rows: &[Compared], px: f32) -> Vec<Compared> {
    rows.iter()
        .map(|c| Compared {
            bbox: BBox::new(
                c.bbox.x1 - px,
                c.bbox.y1 + px,
                c.bbox.x2 + px,
                c.bbox.y2 - px,
            ),
            ..*c
        })
        .collect()
}
