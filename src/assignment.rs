//! Optimal one-to-one matching of rows to columns (the linear assignment problem), shared by the
//! tracker and the evaluator. Solved by the Jonker–Volgenant algorithm of the `lapjv` crate.

/// A `rows`×`cols` matrix of non-negative weights.
pub struct Weights {
    pub rows: usize,
    pub cols: usize,
    /// Stored as the solver wants it, so solving copies nothing: negated (LAPJV minimises) and
    /// padded to a square with zero-weight dummies, which is exact here because every real weight
    /// is ≥ 0, so no optimum prefers a dummy to a real partner of positive weight.
    costs: lapjv::Matrix<f64>,
}

impl Weights {
    pub fn from_fn(rows: usize, cols: usize, mut weight: impl FnMut(usize, usize) -> f64) -> Self {
        let n = rows.max(cols);
        let mut costs = lapjv::Matrix::<f64>::zeros((n, n));
        for r in 0..rows {
            for c in 0..cols {
                costs[(r, c)] = -weight(r, c);
            }
        }
        Self { rows, cols, costs }
    }

    pub fn get(&self, r: usize, c: usize) -> f64 {
        -self.costs[(r, c)]
    }
}

/// The matching of maximum total weight, as `(row, col)` pairs sorted by row. Pairs of zero
/// weight are never reported: a zero means "must not match" (a gated pair), so callers express
/// thresholds by zeroing weights.
///
/// This is what `scipy.optimize.linear_sum_assignment(-W)` computes, less its zero-weight pairs.
pub fn max_weight_matching(w: &Weights) -> Vec<(usize, usize)> {
    if w.rows == 0 || w.cols == 0 {
        return Vec::new();
    }
    let (col_of_row, _) = match lapjv::lapjv(&w.costs) {
        Ok(solution) => solution,
        // Only returned for cancellation, which is never requested here.
        Err(e) => unreachable!("lapjv failed without cancellation: {e}"),
    };
    col_of_row
        .into_iter()
        .enumerate()
        .filter(|&(r, c)| r < w.rows && c < w.cols && w.get(r, c) > 0.0)
        .collect()
}

/// A deterministic stream of numbers (xorshift) for the randomised assignment tests, here and in
/// `track::assign`: many zeros and many ties, as IoU matrices have.
#[cfg(test)]
pub(crate) fn test_numbers(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(rows: &[&[f64]]) -> Weights {
        Weights::from_fn(rows.len(), rows[0].len(), |r, c| rows[r][c])
    }

    fn total(w: &Weights, m: &[(usize, usize)]) -> f64 {
        m.iter().map(|&(r, c)| w.get(r, c)).sum()
    }

    /// Every injective row→column map (with "unmatched"), for small matrices.
    fn brute_force_best(w: &Weights) -> f64 {
        fn go(w: &Weights, r: usize, used: &mut Vec<bool>) -> f64 {
            if r == w.rows {
                return 0.0;
            }
            let mut best = go(w, r + 1, used);
            for c in 0..w.cols {
                if !used[c] {
                    used[c] = true;
                    best = best.max(w.get(r, c) + go(w, r + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        go(w, 0, &mut vec![false; w.cols])
    }

    #[test]
    fn prefers_the_global_optimum_to_the_greedy_choice() {
        let w = weights(&[&[0.9, 0.8], &[0.7, 0.0]]);
        assert_eq!(max_weight_matching(&w), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn zero_weights_are_never_matched() {
        let w = weights(&[&[0.0, 0.0], &[0.0, 0.5]]);
        assert_eq!(max_weight_matching(&w), vec![(1, 1)]);
    }

    #[test]
    fn rectangular_in_both_directions() {
        let tall = weights(&[&[0.1], &[0.9], &[0.5]]);
        assert_eq!(max_weight_matching(&tall), vec![(1, 0)]);
        let wide = weights(&[&[0.1, 0.9, 0.5]]);
        assert_eq!(max_weight_matching(&wide), vec![(0, 1)]);
        assert!(max_weight_matching(&Weights::from_fn(0, 4, |_, _| 1.0)).is_empty());
    }

    #[test]
    fn matches_brute_force_on_random_sparse_matrices() {
        let mut next = test_numbers(0x2545_f491_4f6c_dd1d);
        for case in 0..500 {
            let (rows, cols) = (1 + (next() % 6) as usize, 1 + (next() % 6) as usize);
            let w = Weights::from_fn(rows, cols, |_, _| match next() % 4 {
                0 | 1 => 0.0,
                2 => 0.5,
                _ => (next() % 1000) as f64 / 1000.0,
            });
            let m = max_weight_matching(&w);
            assert!(
                (total(&w, &m) - brute_force_best(&w)).abs() < 1e-9,
                "case {case}"
            );
            let mut cols_used: Vec<usize> = m.iter().map(|p| p.1).collect();
            cols_used.sort_unstable();
            cols_used.dedup();
            assert_eq!(cols_used.len(), m.len(), "case {case}: a column used twice");
        }
    }
}
