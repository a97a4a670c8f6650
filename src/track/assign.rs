//! One association round: tracks matched to detections by optimal assignment over the pairs that
//! may match (those below the round's cost ceiling).

use crate::assignment::{max_weight_matching, Weights};

/// The outcome of one association round, as indices into the rows and columns given.
#[derive(Debug, Default, PartialEq)]
pub struct Assignment {
    pub matches: Vec<(usize, usize)>,
    pub unmatched_rows: Vec<usize>,
    pub unmatched_cols: Vec<usize>,
}

/// A pair that may match: `(row, col, gain)`, gain > 0.
pub type Edge = (usize, usize, f64);

/// Matches rows to columns maximising the total gain. `edges` lists the pairs that may match,
/// `(row, col, gain)` with gain > 0: how far the pair's cost lies below the round's ceiling.
/// Equivalent to ByteTrack's `lapjv` with `cost_limit` on the full matrix, where every pair not
/// listed costs more than the ceiling.
///
/// Gains between tracks and detections are sparse — a track overlaps one or two boxes of the
/// dozens in a frame — and a best matching of the whole is the union of best matchings of each
/// group of rows and columns linked by edges. So each group is solved on its own: most are a
/// single pair, and no solver ever sees the full, mostly-zero square.
pub fn assign(rows: usize, cols: usize, edges: &[Edge]) -> Assignment {
    debug_assert!(edges
        .iter()
        .all(|&(r, c, g)| r < rows && c < cols && g > 0.0));
    if edges.is_empty() {
        // Nothing may match (common in the later rounds): no groups to find.
        return Assignment {
            matches: Vec::new(),
            unmatched_rows: (0..rows).collect(),
            unmatched_cols: (0..cols).collect(),
        };
    }
    // A pair whose row and column have no other edge is a group of its own and matches as it
    // is: most pairs, in a frame of people apart. Only the rest need grouping and solving.
    let (mut row_edges, mut col_edges) = (vec![0u32; rows], vec![0u32; cols]);
    for &(r, c, _) in edges {
        row_edges[r] += 1;
        col_edges[c] += 1;
    }
    let alone = |&(r, c, _): &Edge| row_edges[r] == 1 && col_edges[c] == 1;
    // Sized up front: a filtered collect grows by reallocation, and this runs thrice a frame.
    let mut matches = Vec::with_capacity(rows.min(cols));
    matches.extend(edges.iter().filter(|e| alone(e)).map(|&(r, c, _)| (r, c)));
    let linked: Vec<Edge> = edges.iter().copied().filter(|e| !alone(e)).collect();
    if !linked.is_empty() {
        for group in linked_groups(rows, cols, &linked).chunk_by(|a, b| a.0 == b.0) {
            match star_best(group) {
                Some(pair) => matches.push(pair),
                None => matches.extend(best_matching(group)),
            }
        }
    }
    matches.sort_unstable();
    // The counts are done with; they now mark what was taken.
    let (row_taken, col_taken) = (&mut row_edges, &mut col_edges);
    row_taken.fill(0);
    col_taken.fill(0);
    for &(r, c) in &matches {
        row_taken[r] = 1;
        col_taken[c] = 1;
    }
    let untaken = |taken: &[u32]| {
        let mut out = Vec::with_capacity(taken.len() - matches.len());
        out.extend((0..taken.len()).filter(|&i| taken[i] == 0));
        out
    };
    Assignment {
        unmatched_rows: untaken(row_taken),
        unmatched_cols: untaken(col_taken),
        matches,
    }
}

/// The edges, each with the group it belongs to and ordered by group, where a group is a set of
/// rows and columns linked by edges and by nothing to the rest (a connected component).
fn linked_groups(rows: usize, cols: usize, edges: &[Edge]) -> Vec<(usize, Edge)> {
    // Union-find over rows 0..rows and columns rows..; a group is named by its smallest member.
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for &(r, c, _) in edges {
        let (a, b) = (root(&mut parent, r), root(&mut parent, rows + c));
        parent[a.max(b)] = a.min(b);
    }
    let mut grouped: Vec<(usize, Edge)> =
        edges.iter().map(|&e| (root(&mut parent, e.0), e)).collect();
    // Only the grouping matters: within a group, `best_matching` orders rows and columns itself.
    grouped.sort_unstable_by_key(|&(group, _)| group);
    grouped
}

/// The best pair of a group whose edges all share one row or one column (a track between two
/// boxes, or a box between two tracks: most groups of a crowd), of which only one can match.
/// `None` for any other group, and when the best gain is tied: the solver's choice among equals
/// stays the reference.
fn star_best(group: &[(usize, Edge)]) -> Option<(usize, usize)> {
    let (_, (row, col, _)) = group[0];
    let star = group.iter().all(|&(_, (r, _, _))| r == row)
        || group.iter().all(|&(_, (_, c, _))| c == col);
    if !star {
        return None;
    }
    let best = group
        .iter()
        .map(|&(_, (_, _, g))| g)
        .fold(f64::MIN, f64::max);
    let mut at_best = group.iter().filter(|&&(_, (_, _, g))| g == best);
    match (at_best.next(), at_best.next()) {
        (Some(&(_, (r, c, _))), None) => Some((r, c)),
        _ => None,
    }
}

/// The optimal matching within one group, in the group's original indices.
fn best_matching(group: &[(usize, Edge)]) -> Vec<(usize, usize)> {
    let index = |mut ids: Vec<usize>| {
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let rows = index(group.iter().map(|(_, e)| e.0).collect());
    let cols = index(group.iter().map(|(_, e)| e.1).collect());
    let mut local = vec![0.0; rows.len() * cols.len()];
    for &(_, (r, c, g)) in group {
        // Both lists were built from these very edges: the position is the index.
        let (i, j) = (
            rows.partition_point(|&x| x < r),
            cols.partition_point(|&x| x < c),
        );
        local[i * cols.len() + j] = g;
    }
    let weights = Weights::from_fn(rows.len(), cols.len(), |i, j| local[i * cols.len() + j]);
    max_weight_matching(&weights)
        .into_iter()
        .map(|(i, j)| (rows[i], cols[j]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gains for costs under a ceiling, as the tracker computes them.
    fn assign_costs(rows: &[&[f64]], ceiling: f64) -> Assignment {
        let cols = rows.first().map_or(0, |r| r.len());
        let edges: Vec<Edge> = (0..rows.len())
            .flat_map(|r| (0..cols).map(move |c| (r, c, ceiling - rows[r][c])))
            .filter(|&(_, _, gain)| gain > 0.0)
            .collect();
        assign(rows.len(), cols, &edges)
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
    fn solving_groups_apart_gives_the_optimum_of_the_whole() {
        // Sparse random gains with ties, as IoU gives; the whole matrix solved at once is the
        // reference for the total.
        let mut next = crate::assignment::test_numbers(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let (rows, cols) = (1 + (next() % 12) as usize, 1 + (next() % 12) as usize);
            let gains: Vec<f64> = (0..rows * cols)
                .map(|_| match next() % 6 {
                    0 => 0.5,
                    1 => (next() % 100) as f64 / 100.0,
                    _ => 0.0,
                })
                .collect();
            let at = |r: usize, c: usize| gains[r * cols + c];
            let edges: Vec<Edge> = (0..rows)
                .flat_map(|r| (0..cols).map(move |c| (r, c)))
                .filter(|&(r, c)| at(r, c) > 0.0)
                .map(|(r, c)| (r, c, at(r, c)))
                .collect();
            let a = assign(rows, cols, &edges);
            let whole = max_weight_matching(&Weights::from_fn(rows, cols, at));
            let total = |m: &[(usize, usize)]| m.iter().map(|&(r, c)| at(r, c)).sum::<f64>();
            assert!(
                (total(&a.matches) - total(&whole)).abs() < 1e-9,
                "{gains:?}"
            );
            assert!(a.matches.iter().all(|&(r, c)| at(r, c) > 0.0));
            assert_eq!(a.matches.len() + a.unmatched_rows.len(), rows);
            assert_eq!(a.matches.len() + a.unmatched_cols.len(), cols);
        }
    }

    #[test]
    fn a_star_takes_its_best_pair_and_leaves_ties_to_the_solver() {
        let star = [(0, (0, 0, 0.2)), (0, (0, 1, 0.7)), (0, (0, 2, 0.4))];
        assert_eq!(star_best(&star), Some((0, 1)));
        let column_star = [(0, (0, 3, 0.2)), (0, (1, 3, 0.1))];
        assert_eq!(star_best(&column_star), Some((0, 3)));
        let tied = [(0, (0, 0, 0.5)), (0, (0, 1, 0.5))];
        assert_eq!(star_best(&tied), None);
        let chain = [(0, (0, 0, 0.5)), (0, (0, 1, 0.4)), (0, (1, 1, 0.3))];
        assert_eq!(star_best(&chain), None);
        // Through `assign`, the tie still ends in one pair.
        let a = assign(1, 2, &[(0, 0, 0.5), (0, 1, 0.5)]);
        assert_eq!(a.matches.len(), 1);
    }

    #[test]
    fn empty_sides() {
        let a = assign(0, 3, &[]);
        assert_eq!(a.unmatched_cols, vec![0, 1, 2]);
        let a = assign(2, 0, &[]);
        assert_eq!(a.unmatched_rows, vec![0, 1]);
    }
}
