//! Identity metrics (IDF1, IDP, IDR), per TrackEval's `Identity`: one global, optimal
//! gt-id ↔ tracker-id matching over the whole sequence.

use super::prepare::Prepared;
use crate::assignment::{max_weight_matching, Weights};

const THRESHOLD: f64 = 0.5;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identity {
    pub idtp: u64,
    pub idfn: u64,
    pub idfp: u64,
}

impl Identity {
    pub fn evaluate(data: &Prepared) -> Self {
        if data.num_tracker_dets == 0 {
            return Self {
                idfn: data.num_gt_dets as u64,
                ..Default::default()
            };
        }
        if data.num_gt_dets == 0 {
            return Self {
                idfp: data.num_tracker_dets as u64,
                ..Default::default()
            };
        }
        // Frames in which each (gt id, tracker id) pair overlaps enough to count as a match.
        let cols = data.num_tracker_ids;
        let mut overlap = vec![0.0f64; data.num_gt_ids * cols];
        for f in &data.frames {
            for (g, &gid) in f.gt_ids.iter().enumerate() {
                for (t, &tid) in f.tracker_ids.iter().enumerate() {
                    if f.sim(g, t) >= THRESHOLD {
                        overlap[gid * cols + tid] += 1.0;
                    }
                }
            }
        }
        // TrackEval minimises IDFN + IDFP over an augmented matrix; both equal a constant minus
        // twice the matched overlap, so maximising the matched overlap (IDTP) is the same optimum.
        let w = Weights::from_fn(data.num_gt_ids, cols, |g, t| overlap[g * cols + t]);
        let idtp: f64 = max_weight_matching(&w)
            .iter()
            .map(|&(g, t)| w.get(g, t))
            .sum();
        let idtp = idtp.round() as u64;
        Self {
            idtp,
            idfn: data.num_gt_dets as u64 - idtp,
            idfp: data.num_tracker_dets as u64 - idtp,
        }
    }

    pub fn plus(&self, o: &Identity) -> Identity {
        Identity {
            idtp: self.idtp + o.idtp,
            idfn: self.idfn + o.idfn,
            idfp: self.idfp + o.idfp,
        }
    }

    pub fn idr(&self) -> f64 {
        self.idtp as f64 / ((self.idtp + self.idfn) as f64).max(1.0)
    }

    pub fn idp(&self) -> f64 {
        self.idtp as f64 / ((self.idtp + self.idfp) as f64).max(1.0)
    }

    pub fn idf1(&self) -> f64 {
        self.idtp as f64
            / (self.idtp as f64 + 0.5 * self.idfp as f64 + 0.5 * self.idfn as f64).max(1.0)
    }
}
