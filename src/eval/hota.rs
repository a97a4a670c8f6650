//! HOTA (Higher Order Tracking Accuracy) and its parts DetA, AssA, LocA, per TrackEval's `HOTA`:
//! every quantity at 19 localisation thresholds α = 0.05 … 0.95; summaries average over α.

use super::prepare::Prepared;
use super::EPS;
use crate::assignment::{max_weight_matching, Weights};

pub const ALPHAS: usize = 19;

/// α = 0.05, 0.10, … 0.95, computed as `np.arange(0.05, 0.99, 0.05)` computes them.
fn alpha(a: usize) -> f64 {
    0.05 + a as f64 * 0.05
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hota {
    pub tp: [f64; ALPHAS],
    pub fn_: [f64; ALPHAS],
    pub fp: [f64; ALPHAS],
    pub ass_a: [f64; ALPHAS],
    pub ass_re: [f64; ALPHAS],
    pub ass_pr: [f64; ALPHAS],
    pub loc_a: [f64; ALPHAS],
}

impl Default for Hota {
    fn default() -> Self {
        let z = [0.0; ALPHAS];
        Self {
            tp: z,
            fn_: z,
            fp: z,
            ass_a: z,
            ass_re: z,
            ass_pr: z,
            loc_a: z,
        }
    }
}

impl Hota {
    pub fn evaluate(data: &Prepared) -> Self {
        let mut res = Hota::default();
        if data.num_tracker_dets == 0 || data.num_gt_dets == 0 {
            res.fn_ = [data.num_gt_dets as f64; ALPHAS];
            res.fp = [data.num_tracker_dets as f64; ALPHAS];
            res.loc_a = [1.0; ALPHAS];
            return res;
        }
        let (n_gt, n_tr) = (data.num_gt_ids, data.num_tracker_ids);
        let at = |g: usize, t: usize| g * n_tr + t;

        // How well each gt id and tracker id align over the whole sequence (soft, IoU-weighted).
        let mut potential = vec![0.0f64; n_gt * n_tr];
        let (mut gt_count, mut tr_count) = (vec![0.0f64; n_gt], vec![0.0f64; n_tr]);
        for f in &data.frames {
            let (rows, cols) = (f.gt_ids.len(), f.tracker_ids.len());
            let row_sum: Vec<f64> = (0..rows)
                .map(|g| (0..cols).map(|t| f.sim(g, t)).sum())
                .collect();
            let col_sum: Vec<f64> = (0..cols)
                .map(|t| (0..rows).map(|g| f.sim(g, t)).sum())
                .collect();
            for g in 0..rows {
                for t in 0..cols {
                    let denom = row_sum[g] + col_sum[t] - f.sim(g, t);
                    if denom > EPS {
                        potential[at(f.gt_ids[g], f.tracker_ids[t])] += f.sim(g, t) / denom;
                    }
                }
            }
            f.gt_ids.iter().for_each(|&g| gt_count[g] += 1.0);
            f.tracker_ids.iter().for_each(|&t| tr_count[t] += 1.0);
        }
        let alignment: Vec<f64> = (0..n_gt * n_tr)
            .map(|i| potential[i] / (gt_count[i / n_tr] + tr_count[i % n_tr] - potential[i]))
            .collect();

        // Per frame: match maximising alignment × IoU; count at each α the matches with IoU ≥ α.
        let mut matches_count = vec![vec![0.0f64; n_gt * n_tr]; ALPHAS];
        for f in &data.frames {
            let (rows, cols) = (f.gt_ids.len(), f.tracker_ids.len());
            if rows == 0 || cols == 0 {
                for a in 0..ALPHAS {
                    res.fp[a] += cols as f64;
                    res.fn_[a] += rows as f64;
                }
                continue;
            }
            let w = Weights::from_fn(rows, cols, |g, t| {
                alignment[at(f.gt_ids[g], f.tracker_ids[t])] * f.sim(g, t)
            });
            let matches = max_weight_matching(&w);
            for (a, counts) in matches_count.iter_mut().enumerate() {
                let mut n = 0;
                for &(g, t) in &matches {
                    let sim = f.sim(g, t);
                    if sim >= alpha(a) - EPS {
                        n += 1;
                        res.loc_a[a] += sim;
                        counts[at(f.gt_ids[g], f.tracker_ids[t])] += 1.0;
                    }
                }
                res.tp[a] += n as f64;
                res.fn_[a] += (rows - n) as f64;
                res.fp[a] += (cols - n) as f64;
            }
        }
        for (a, counts) in matches_count.iter().enumerate() {
            let (mut ass_a, mut ass_re, mut ass_pr) = (0.0, 0.0, 0.0);
            for g in 0..n_gt {
                for t in 0..n_tr {
                    let m = counts[at(g, t)];
                    if m > 0.0 {
                        ass_a += m * m / (gt_count[g] + tr_count[t] - m).max(1.0);
                        ass_re += m * m / gt_count[g].max(1.0);
                        ass_pr += m * m / tr_count[t].max(1.0);
                    }
                }
            }
            let tp = res.tp[a].max(1.0);
            res.ass_a[a] = ass_a / tp;
            res.ass_re[a] = ass_re / tp;
            res.ass_pr[a] = ass_pr / tp;
            res.loc_a[a] = res.loc_a[a].max(1e-10) / res.tp[a].max(1e-10);
        }
        res
    }

    /// Sums the counts; association and localisation scores are averaged weighted by TP.
    pub fn combine(all: &[&Hota]) -> Hota {
        let mut res = Hota::default();
        for a in 0..ALPHAS {
            let sum = |f: &dyn Fn(&Hota) -> f64| all.iter().map(|h| f(h)).sum::<f64>();
            res.tp[a] = sum(&|h| h.tp[a]);
            res.fn_[a] = sum(&|h| h.fn_[a]);
            res.fp[a] = sum(&|h| h.fp[a]);
            res.ass_a[a] = sum(&|h| h.ass_a[a] * h.tp[a]) / res.tp[a].max(1.0);
            res.ass_re[a] = sum(&|h| h.ass_re[a] * h.tp[a]) / res.tp[a].max(1.0);
            res.ass_pr[a] = sum(&|h| h.ass_pr[a] * h.tp[a]) / res.tp[a].max(1.0);
            res.loc_a[a] = sum(&|h| h.loc_a[a] * h.tp[a]).max(1e-10) / res.tp[a].max(1e-10);
        }
        res
    }

    pub fn det_re(&self, a: usize) -> f64 {
        self.tp[a] / (self.tp[a] + self.fn_[a]).max(1.0)
    }

    pub fn det_pr(&self, a: usize) -> f64 {
        self.tp[a] / (self.tp[a] + self.fp[a]).max(1.0)
    }

    pub fn det_a(&self, a: usize) -> f64 {
        self.tp[a] / (self.tp[a] + self.fn_[a] + self.fp[a]).max(1.0)
    }

    pub fn ass_a(&self, a: usize) -> f64 {
        self.ass_a[a]
    }

    pub fn hota(&self, a: usize) -> f64 {
        (self.det_a(a) * self.ass_a(a)).sqrt()
    }

    /// The mean over α of a per-α quantity, as TrackEval summarises.
    pub fn mean(&self, f: impl Fn(&Hota, usize) -> f64) -> f64 {
        (0..ALPHAS).map(|a| f(self, a)).sum::<f64>() / ALPHAS as f64
    }
}
