//! One association round: tracks matched to detections by optimal assignment on a gain matrix.

use crate::assignment::{max_weight_matching, Weights};

/// The outcome of one association round, as indices into the rows and columns given.
#[derive(Debug, Default, PartialEq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// Matches rows to columns maximising the total gain, where `gain(r, c)` is how far the pair's
/// cost lies below the round's ceiling (0 when at or above it: never matched). Equivalent to
/// ByteTrack's `lapjv` with `cost_limit`.
pub fn assign(rows: usize, cols: usize, gain: impl FnMut(usize, usize) -> f64) -> Assignment {
    let matches = max_weight_matching(&Weights::from_fn(rows, cols, gain));
    let mut row_taken = vec![false; rows];
    let mut col_taken = vec![false; cols];
    for &(r, c) in &matches {
        row_taken[r] = true;
        col_taken[c] = true;
    }
    Assignment {
        matches,
        unmatched_rows: (0..rows).filter(|&r| !row_taken[r]).collect(),
        unmatched_cols: (0..cols).filter(|&c| !col_taken[c]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gains for costs under a ceiling, as the tracker computes them.
    fn assign_costs(rows: &[&[f64]], ceiling: f64) -> Assignment {
        let cols = rows.first().map_or(0, |r| r.len());
        assign(rows.len(), cols, |r, c| (ceiling - rows[r][c]).max(0.0))
    }

    #[test]
    fn finds_the_global_optimum_not_the_greedy_one() {
        // Greedy would take (0,0)=0.1 and then (1,1)=0.9 (gated); optimal is (0,1)+(1,0).
        let a = assign_costs(&[&[0.1, 0.2], &[0.3, 0.9]], 0.8);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
        assert!(a.unmatched_rows.is_empty() && a.unmatched_cols.is_empty());
    }

    #[test]
    fn gates_pairs_at_or_above_the_ceiling() {
        let a = assign_costs(&[&[0.85, 0.9], &[0.2, f64::INFINITY]], 0.8);
        assert_eq!(a.matches, vec![(1, 0)]);
        assert_eq!(a.unmatched_rows, vec![0]);
        assert_eq!(a.unmatched_cols, vec![1]);
    }

    #[test]
    fn handles_more_rows_than_columns() {
        let a = assign_costs(&[&[0.5], &[0.1], &[0.3]], 0.8);
        assert_eq!(a.matches, vec![(1, 0)]);
        assert_eq!(a.unmatched_rows, vec![0, 2]);
    }

    #[test]
    fn two_good_pairs_beat_one_excellent_pair() {
        // (0,0)+(1,1) is worth 0.7+0.1 = 0.8; (0,1) alone 0.75.
        let a = assign_costs(&[&[0.1, 0.05], &[f64::INFINITY, 0.7]], 0.8);
        assert_eq!(a.matches, vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn empty_sides() {
        let a = assign(0, 3, |_, _| 1.0);
        assert_eq!(a.unmatched_cols, vec![0, 1, 2]);
        let a = assign(2, 0, |_, _| 1.0);
        assert_eq!(a.unmatched_rows, vec![0, 1]);
    }
}
