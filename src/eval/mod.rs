//! MOTChallenge evaluation, computed the way TrackEval (the reference evaluator) computes it:
//! HOTA, CLEAR (MOTA, MOTP, IDSW, Frag, MT/PT/ML) and Identity (IDF1, IDP, IDR), per sequence
//! and combined. The metric cores are pure; only `dataset.rs` reads files.
//!
//! - `input.rs`: gt and result files → boxes per frame, with line-numbered errors.
//! - `prepare.rs`: MOTChallenge preprocessing (pedestrians only, distractor matches removed,
//!   zero-marked gt dropped) and the per-frame IoU matrices.
//! - `clear.rs`, `identity.rs`, `hota.rs`: one metric family each.
//! - `dataset.rs`: the one file that reads folders from disk for these metrics.
//! - `detections.rs`: `vigil eval-det`, detections (not tracks) scored by precision, recall and
//!   COCO-style AP against the same gt.
//! - `forecasts.rs`: `vigil eval-predict`, look-ahead scored on gt and on vigil's tracks (the
//!   scoring itself is `predict::score`).

mod clear;
pub mod dataset;
pub mod detections;
pub mod forecasts;
mod hota;
mod identity;
mod input;
mod prepare;

use serde::Serialize;

pub use clear::Clear;
pub use hota::Hota;
pub use identity::Identity;
pub use input::{parse_gt, parse_results, GtRow, ResultRow};
pub use prepare::{prepare, Prepared};

/// Every metric family's counts for one sequence or a combination of sequences.
#[derive(Clone, Debug)]
pub struct Counts {
    pub hota: Hota,
    pub clear: Clear,
    pub identity: Identity,
}

impl Counts {
    pub fn evaluate(data: &Prepared) -> Self {
        Self {
            hota: Hota::evaluate(data),
            clear: Clear::evaluate(data),
            identity: Identity::evaluate(data),
        }
    }

    /// Combines sequences the way TrackEval's COMBINED_SEQ row does.
    pub fn combine(all: &[Counts]) -> Self {
        let hota: Vec<&Hota> = all.iter().map(|c| &c.hota).collect();
        Self {
            hota: Hota::combine(&hota),
            clear: all
                .iter()
                .fold(Clear::default(), |acc, c| acc.plus(&c.clear)),
            identity: all
                .iter()
                .fold(Identity::default(), |acc, c| acc.plus(&c.identity)),
        }
    }

    pub fn summary(&self) -> Summary {
        let h = &self.hota;
        let c = &self.clear;
        let i = &self.identity;
        Summary {
            hota: h.mean(Hota::hota),
            det_a: h.mean(Hota::det_a),
            ass_a: h.mean(Hota::ass_a),
            det_re: h.mean(Hota::det_re),
            det_pr: h.mean(Hota::det_pr),
            ass_re: h.mean(|h, a| h.ass_re[a]),
            ass_pr: h.mean(|h, a| h.ass_pr[a]),
            loc_a: h.mean(|h, a| h.loc_a[a]),
            mota: c.mota(),
            motp: c.motp(),
            idf1: i.idf1(),
            idp: i.idp(),
            idr: i.idr(),
            idsw: c.idsw,
            frag: c.frag,
            mt: c.mt,
            pt: c.pt,
            ml: c.ml,
            clr_tp: c.tp,
            clr_fn: c.fn_,
            clr_fp: c.fp,
            idtp: i.idtp,
            idfn: i.idfn,
            idfp: i.idfp,
        }
    }
}

/// The headline numbers, fractions in [0, 1] and counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub hota: f64,
    pub det_a: f64,
    pub ass_a: f64,
    pub det_re: f64,
    pub det_pr: f64,
    pub ass_re: f64,
    pub ass_pr: f64,
    pub loc_a: f64,
    pub mota: f64,
    pub motp: f64,
    pub idf1: f64,
    pub idp: f64,
    pub idr: f64,
    pub idsw: u64,
    pub frag: u64,
    pub mt: u64,
    pub pt: u64,
    pub ml: u64,
    pub clr_tp: u64,
    pub clr_fn: u64,
    pub clr_fp: u64,
    pub idtp: u64,
    pub idfn: u64,
    pub idfp: u64,
}

/// `np.finfo(float).eps`, which TrackEval adds to every threshold comparison.
pub(crate) const EPS: f64 = f64::EPSILON;

#[cfg(test)]
mod tests {
    use super::*;

    const GT: &str = "1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,1,1,1\n3,1,14,10,20,40,1,1,1\n\
                      1,2,100,10,20,40,1,1,1\n2,2,100,10,20,40,1,1,1\n3,2,100,10,20,40,1,1,1\n";

    fn evaluate(gt: &str, res: &str) -> Summary {
        let gt = parse_gt(gt).unwrap();
        let res = parse_results(res).unwrap();
        Counts::evaluate(&prepare(&gt, &res, 3)).summary()
    }

    #[test]
    fn ground_truth_against_itself_scores_perfectly() {
        let s = evaluate(GT, GT);
        for v in [s.hota, s.det_a, s.ass_a, s.loc_a, s.mota, s.motp, s.idf1] {
            assert!((v - 1.0).abs() < 1e-12, "{s:?}");
        }
        assert_eq!((s.idsw, s.clr_fn, s.clr_fp, s.mt, s.ml), (0, 0, 0, 2, 0));
    }

    #[test]
    fn an_identity_switch_is_counted_once() {
        // Tracker follows object 1 with id 7, then switches to id 8 for the last frame.
        let res = "1,7,10,10,20,40,1,-1,-1,-1\n2,7,12,10,20,40,1,-1,-1,-1\n3,8,14,10,20,40,1,-1,-1,-1\n\
                   1,9,100,10,20,40,1,-1,-1,-1\n2,9,100,10,20,40,1,-1,-1,-1\n3,9,100,10,20,40,1,-1,-1,-1\n";
        let s = evaluate(GT, res);
        assert_eq!(s.idsw, 1);
        assert_eq!(s.clr_tp, 6);
        assert!((s.mota - 5.0 / 6.0).abs() < 1e-12);
        // Identity: gt 1 best matches id 7 for 2 of its 3 frames: IDTP = 2 + 3 = 5 of 6.
        assert_eq!((s.idtp, s.idfn, s.idfp), (5, 1, 1));
        assert!(s.ass_a < 1.0 && (s.det_a - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mot15_world_coordinates_are_not_mistaken_for_classes() {
        // ETH-Bahnhof style: columns 8-10 are world coordinates; every row is a pedestrian.
        let gt = "1,1,10,10,20,40,1,-3.1784,16.34,0.45\n1,2,100,10,20,40,1,-1.407,9.02,0.68\n";
        let res = "1,5,10,10,20,40,1,-1,-1,-1\n1,6,100,10,20,40,1,-1,-1,-1\n";
        let s = Counts::evaluate(&prepare(
            &parse_gt(gt).unwrap(),
            &parse_results(res).unwrap(),
            1,
        ))
        .summary();
        assert_eq!((s.clr_tp, s.clr_fn, s.clr_fp), (2, 0, 0));
    }

    #[test]
    fn distractor_matches_are_removed_and_zero_marked_gt_ignored() {
        // Object 3 is a static person (class 7); object 4 is a pedestrian marked not to score.
        let gt = "1,1,10,10,20,40,1,1,1\n1,3,200,10,20,40,1,7,1\n1,4,300,10,20,40,0,1,1\n";
        let res = "1,1,10,10,20,40,1,-1,-1,-1\n1,2,200,10,20,40,1,-1,-1,-1\n1,5,300,10,20,40,1,-1,-1,-1\n";
        let gt = parse_gt(gt).unwrap();
        let res = parse_results(res).unwrap();
        let s = Counts::evaluate(&prepare(&gt, &res, 1)).summary();
        // The box on the static person is dropped; the one on the zero-marked gt stays a FP.
        assert_eq!((s.clr_tp, s.clr_fp, s.clr_fn), (1, 1, 0));
    }
}
