//! MOTChallenge text files: gt (`frame,id,x,y,w,h,consider,class,visibility`) and tracker
//! results (`frame,id,x,y,w,h,score,...`). Errors name the line; the caller adds the file.

use crate::motchallenge::parse_rows;

/// One ground-truth box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GtRow {
    pub frame: u64,
    pub id: i64,
    /// `[x, y, w, h]`, top-left corner and size.
    pub tlwh: [f64; 4],
    /// 0 marks a box that is not scored.
    pub consider: i64,
    /// MOT17 class (1 pedestrian, 2 person on vehicle, 7 static person, … 12); −1 where the
    /// column holds something else: MOT15 files put −1 or 3D world coordinates there.
    pub class: i64,
    /// Share of the box in view (MOT17's ninth column); 1 where there is none.
    pub visibility: f64,
}

/// One tracker box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResultRow {
    pub frame: u64,
    pub id: i64,
    pub tlwh: [f64; 4],
}

/// An id may appear once per frame: TrackEval refuses a file where one does not, and the
/// identity metrics would count its matches twice.
fn check_unique_ids(rows: &[(usize, Vec<f64>)]) -> Result<(), String> {
    let mut seen = std::collections::HashMap::new();
    for (n, v) in rows {
        if let Some(first) = seen.insert((v[0] as u64, v[1] as i64), *n) {
            return Err(format!(
                "line {n}: id {} appears twice in frame {} (also on line {first})",
                v[1], v[0]
            ));
        }
    }
    Ok(())
}

pub fn parse_gt(text: &str) -> Result<Vec<GtRow>, String> {
    let rows = parse_rows(text, 8)?;
    check_unique_ids(&rows)?;
    Ok(rows
        .into_iter()
        .map(|(_, v)| {
            let class = if v[7].fract() == 0.0 && (1.0..=12.0).contains(&v[7]) {
                v[7] as i64
            } else {
                -1
            };
            GtRow {
                frame: v[0] as u64,
                id: v[1] as i64,
                tlwh: [v[2], v[3], v[4], v[5]],
                consider: v[6] as i64,
                class,
                visibility: match v.get(8) {
                    Some(&seen) if class != -1 && (0.0..=1.0).contains(&seen) => seen,
                    _ => 1.0,
                },
            }
        })
        .collect())
}

pub fn parse_results(text: &str) -> Result<Vec<ResultRow>, String> {
    let rows = parse_rows(text, 6)?;
    check_unique_ids(&rows)?;
    Ok(rows
        .into_iter()
        .map(|(_, v)| ResultRow {
            frame: v[0] as u64,
            id: v[1] as i64,
            tlwh: [v[2], v[3], v[4], v[5]],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_layouts() {
        let gt = parse_gt("1,1,912,484,97,109,0,7,1\n").unwrap();
        assert_eq!(
            gt[0],
            GtRow {
                frame: 1,
                id: 1,
                tlwh: [912.0, 484.0, 97.0, 109.0],
                consider: 0,
                class: 7,
                visibility: 1.0
            }
        );
        let res = parse_results("3,12,1015.2,434.0,40.5,119.4,1,-1,-1,-1\n\n").unwrap();
        assert_eq!(
            res,
            vec![ResultRow {
                frame: 3,
                id: 12,
                tlwh: [1015.2, 434.0, 40.5, 119.4]
            }]
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, expect) in [
            (
                "1,1,10,10,20,40,1\n2,1,10,10\n",
                "line 2: expected at least 6",
            ),
            ("1,1,10,NaN,20,40,1\n", "'NaN' is not a finite number"),
            ("1,1,10,10,-20,40,1\n", "negative box size"),
            ("0,1,10,10,20,40,1\n", "frame 0"),
            ("1,1.5,10,10,20,40,1\n", "id 1.5"),
            // Found by fuzzing: a repeated id made the identity metrics overflow.
            (
                "1,1,10,10,20,40,1\n2,1,10,10,20,40,1\n1,1,50,10,20,40,1\n",
                "line 3: id 1 appears twice in frame 1 (also on line 1)",
            ),
        ] {
            let err = parse_results(text).unwrap_err();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        assert!(parse_gt("1,1,10,10,20,40,1\n")
            .unwrap_err()
            .contains("at least 8"));
    }
}
