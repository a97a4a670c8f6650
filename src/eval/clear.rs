//! CLEAR MOT metrics (MOTA, MOTP, IDSW, Frag, MT/PT/ML), per TrackEval's `CLEAR`.

use super::prepare::Prepared;
use super::EPS;
use crate::assignment::{max_weight_matching, Weights};

const THRESHOLD: f64 = 0.5;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clear {
    pub tp: u64,
    pub fn_: u64,
    pub fp: u64,
    pub idsw: u64,
    pub mt: u64,
    pub pt: u64,
    pub ml: u64,
    pub frag: u64,
    pub motp_sum: f64,
}

impl Clear {
    pub fn evaluate(data: &Prepared) -> Self {
        let mut res = Clear::default();
        if data.num_tracker_dets == 0 {
            res.fn_ = data.num_gt_dets as u64;
            res.ml = data.num_gt_ids as u64;
            return res;
        }
        if data.num_gt_dets == 0 {
            res.fp = data.num_tracker_dets as u64;
            return res;
        }
        let n = data.num_gt_ids;
        let (mut gt_count, mut gt_matched, mut frag_starts) =
            (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        // Last tracker id matched to each gt id, ever (for IDSW) and in the previous frame (to
        // prefer continuing it when matching).
        let mut last_match: Vec<Option<usize>> = vec![None; n];
        let mut prev_frame_match: Vec<Option<usize>> = vec![None; n];

        for f in &data.frames {
            if f.gt_ids.is_empty() {
                res.fp += f.tracker_ids.len() as u64;
                continue;
            }
            if f.tracker_ids.is_empty() {
                res.fn_ += f.gt_ids.len() as u64;
                for &g in &f.gt_ids {
                    gt_count[g] += 1;
                }
                continue;
            }
            // Continuing last frame's match outweighs any IoU; IoU breaks the remaining ties.
            let w = Weights::from_fn(f.gt_ids.len(), f.tracker_ids.len(), |g, t| {
                let sim = f.sim(g, t);
                if sim < THRESHOLD - EPS {
                    return 0.0;
                }
                let continues = prev_frame_match[f.gt_ids[g]] == Some(f.tracker_ids[t]);
                if continues {
                    1000.0 + sim
                } else {
                    sim
                }
            });
            let matches = max_weight_matching(&w);
            for &(g, t) in &matches {
                let (gid, tid) = (f.gt_ids[g], f.tracker_ids[t]);
                if last_match[gid].is_some_and(|prev| prev != tid) {
                    res.idsw += 1;
                }
                res.motp_sum += f.sim(g, t);
            }
            for &g in &f.gt_ids {
                gt_count[g] += 1;
            }
            let was_tracked: Vec<bool> = prev_frame_match.iter().map(Option::is_some).collect();
            prev_frame_match.iter_mut().for_each(|m| *m = None);
            for &(g, t) in &matches {
                let (gid, tid) = (f.gt_ids[g], f.tracker_ids[t]);
                gt_matched[gid] += 1;
                last_match[gid] = Some(tid);
                prev_frame_match[gid] = Some(tid);
            }
            for (gid, starts) in frag_starts.iter_mut().enumerate() {
                if !was_tracked[gid] && prev_frame_match[gid].is_some() {
                    *starts += 1;
                }
            }
            res.tp += matches.len() as u64;
            res.fn_ += (f.gt_ids.len() - matches.len()) as u64;
            res.fp += (f.tracker_ids.len() - matches.len()) as u64;
        }
        for (&count, &matched) in gt_count.iter().zip(&gt_matched) {
            if count == 0 {
                continue;
            }
            let ratio = matched as f64 / count as f64;
            if ratio > 0.8 {
                res.mt += 1;
            } else if ratio >= 0.2 {
                res.pt += 1;
            }
        }
        res.ml = n as u64 - res.mt - res.pt;
        res.frag = frag_starts.iter().filter(|&&s| s > 0).map(|s| s - 1).sum();
        res
    }

    pub fn plus(&self, o: &Clear) -> Clear {
        Clear {
            tp: self.tp + o.tp,
            fn_: self.fn_ + o.fn_,
            fp: self.fp + o.fp,
            idsw: self.idsw + o.idsw,
            mt: self.mt + o.mt,
            pt: self.pt + o.pt,
            ml: self.ml + o.ml,
            frag: self.frag + o.frag,
            motp_sum: self.motp_sum + o.motp_sum,
        }
    }

    pub fn mota(&self) -> f64 {
        (self.tp as f64 - self.fp as f64 - self.idsw as f64)
            / ((self.tp + self.fn_) as f64).max(1.0)
    }

    pub fn motp(&self) -> f64 {
        self.motp_sum / (self.tp as f64).max(1.0)
    }
}
