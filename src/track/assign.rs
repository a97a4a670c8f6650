//! Optimal one-to-one assignment of tracks to detections under a cost ceiling.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Cost of a pair that must never be matched (different classes, no overlap).
pub const FORBIDDEN: f32 = f32::INFINITY;

/// The outcome of one association round, as indices into the rows and columns given.
#[derive(Debug, Default, PartialEq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// A dense row-major cost matrix.
pub struct CostMatrix {
    pub rows: usize,
    pub cols: usize,
    pub costs: Vec<f32>,
}

impl CostMatrix {
    pub fn from_fn(rows: usize, cols: usize, mut cost: impl FnMut(usize, usize) -> f32) -> Self {
        let mut costs = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                costs.push(cost(r, c));
            }
        }
        Self { rows, cols, costs }
    }

    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.costs[r * self.cols + c]
    }
}

/// Fixed-point scale for costs: the solver needs a totally ordered weight type.
const SCALE: f32 = 1e6;

/// Matches rows to columns minimising the total cost of matched pairs, where a pair may be
/// matched only if its cost is below `max_cost`. Equivalent to ByteTrack's `lapjv` with
/// `cost_limit`: every matched pair is worth `max_cost - cost`, and the total worth is maximised.
pub fn assign(cost: &CostMatrix, max_cost: f32) -> Assignment {
    let worth = |r: usize, c: usize| -> i64 {
        let v = cost.get(r, c);
        if v < max_cost {
            ((max_cost - v) * SCALE).round() as i64
        } else {
            0
        }
    };
    let mut result = Assignment::default();
    if cost.rows > 0 && cost.cols > 0 {
        // The solver wants no more rows than columns; transpose when needed.
        let transposed = cost.rows > cost.cols;
        let (n, m) = if transposed {
            (cost.cols, cost.rows)
        } else {
            (cost.rows, cost.cols)
        };
        let weights = Matrix::from_fn(
            n,
            m,
            |(i, j)| if transposed { worth(j, i) } else { worth(i, j) },
        );
        let (_, col_of_row) = kuhn_munkres(&weights);
        for (i, &j) in col_of_row.iter().enumerate() {
            let (r, c) = if transposed { (j, i) } else { (i, j) };
            if cost.get(r, c) < max_cost {
                result.matches.push((r, c));
            }
        }
        result.matches.sort_unstable();
    }
    let mut row_taken = vec![false; cost.rows];
    let mut col_taken = vec![false; cost.cols];
    for &(r, c) in &result.matches {
        row_taken[r] = true;
        col_taken[c] = true;
    }
    result.unmatched_rows = (0..cost.rows).filter(|&r| !row_taken[r]).collect();
    result.unmatched_cols = (0..cost.cols).filter(|&c| !col_taken[c]).collect();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f32]]) -> CostMatrix {
        CostMatrix::from_fn(rows.len(), rows.first().map_or(0, |r| r.len()), |r, c| {
            rows[r][c]
        })
    }

    #[test]
    fn finds_the_global_optimum_not_the_greedy_one() {
        // Greedy would take (0,0)=0.1 and then (1,1)=0.9 (gated); optimal is (0,1)+(1,0).
        let a = assign(&matrix(&[&[0.1, 0.2], &[0.3, 0.9]]), 0.8);
        assert_eq!(a.matches, vec![(0, 1), (1, 0)]);
        assert!(a.unmatched_rows.is_empty() && a.unmatched_cols.is_empty());
    }

    #[test]
    fn gates_pairs_at_or_above_the_ceiling() {
        let a = assign(&matrix(&[&[0.85, 0.9], &[0.2, FORBIDDEN]]), 0.8);
        assert_eq!(a.matches, vec![(1, 0)]);
        assert_eq!(a.unmatched_rows, vec![0]);
        assert_eq!(a.unmatched_cols, vec![1]);
    }

    #[test]
    fn handles_more_rows_than_columns() {
        let a = assign(&matrix(&[&[0.5], &[0.1], &[0.3]]), 0.8);
        assert_eq!(a.matches, vec![(1, 0)]);
        assert_eq!(a.unmatched_rows, vec![0, 2]);
    }

    #[test]
    fn prefers_leaving_a_pair_unmatched_to_a_costly_swap() {
        // (0,0)+(1,1) costs 0.1+0.7=0.8 for worth 0.8; (0,1) alone is worth 0.75. Both pairs win.
        let a = assign(&matrix(&[&[0.1, 0.05], &[FORBIDDEN, 0.7]]), 0.8);
        assert_eq!(a.matches, vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn empty_sides() {
        let a = assign(&CostMatrix::from_fn(0, 3, |_, _| 0.0), 0.8);
        assert_eq!(a.unmatched_cols, vec![0, 1, 2]);
        let a = assign(&CostMatrix::from_fn(2, 0, |_, _| 0.0), 0.8);
        assert_eq!(a.unmatched_rows, vec![0, 1]);
    }
}
