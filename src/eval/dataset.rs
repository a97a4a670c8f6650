//! Reading a MOTChallenge benchmark from disk: a gt folder of sequences
//! (`SEQ/seqinfo.ini`, `SEQ/gt/gt.txt`) and a results folder (`SEQ.txt`), the layout TrackEval
//! reads; for `eval-det`, the results are detections. The only part of `eval` that does I/O.

use std::path::{Path, PathBuf};

use super::detections::{self, Matches};
use super::input::{parse_gt, parse_results, GtRow};
use super::prepare::{duplicate_id, prepare};
use super::Counts;
use crate::error::{Context, Error, Result};
use crate::motchallenge::{parse_detection_rows, sequence_dirs, SeqInfo};

/// The sequences under `gt_dir`: itself if it holds `gt/gt.txt`, else its sub-folders that do.
pub fn sequences(gt_dir: &Path) -> Result<Vec<PathBuf>> {
    if gt_dir.join("gt/gt.txt").is_file() {
        return Ok(vec![gt_dir.to_path_buf()]);
    }
    sequence_dirs(gt_dir, "gt/gt.txt")
}

/// A sequence's description and gt rows; errors name the file.
fn load_gt(seq_dir: &Path) -> Result<(SeqInfo, Vec<GtRow>)> {
    let info = SeqInfo::load(seq_dir)?;
    let gt_path = seq_dir.join("gt/gt.txt");
    let gt_text = std::fs::read_to_string(&gt_path)
        .input_err(|| format!("cannot read '{}'", gt_path.display()))?;
    let gt =
        parse_gt(&gt_text).map_err(|e| Error::input(format!("'{}' {e}", gt_path.display())))?;
    Ok((info, gt))
}

/// Evaluates one sequence's results file against its gt.
pub fn evaluate_sequence(seq_dir: &Path, results: &Path) -> Result<Counts> {
    let (info, gt) = load_gt(seq_dir)?;
    let gt_path = seq_dir.join("gt/gt.txt");
    let res_text = std::fs::read_to_string(results)
        .input_err(|| format!("cannot read '{}'", results.display()))?;
    let res = parse_results(&res_text)
        .map_err(|e| Error::input(format!("'{}' {e}", results.display())))?;
    for (path, dup) in [
        (&gt_path, duplicate_id(gt.iter().map(|r| (r.frame, r.id)))),
        (
            &results.to_path_buf(),
            duplicate_id(res.iter().map(|r| (r.frame, r.id))),
        ),
    ] {
        if let Some((frame, id)) = dup {
            return Err(Error::input(format!(
                "'{}': id {id} appears twice in frame {frame}",
                path.display()
            )));
        }
    }
    Ok(Counts::evaluate(&prepare(&gt, &res, info.length)))
}

/// Evaluates every sequence of `gt_dir` against `res_dir/SEQ.txt`.
pub fn evaluate_all(gt_dir: &Path, res_dir: &Path) -> Result<Vec<(String, Counts)>> {
    sequences_with_results(gt_dir, res_dir)?
        .into_iter()
        .map(|(name, seq, results)| Ok((name, evaluate_sequence(&seq, &results)?)))
        .collect()
}

/// `vigil eval-det`: every sequence of `gt_dir` matched against its detections in
/// `res_dir/SEQ.txt` (MOTChallenge `det.txt` lines), gt boxes less visible than
/// `min_visibility` ignored.
pub fn match_detections_all(
    gt_dir: &Path,
    res_dir: &Path,
    min_visibility: f64,
) -> Result<Vec<(String, Matches)>> {
    sequences_with_results(gt_dir, res_dir)?
        .into_iter()
        .map(|(name, seq, results)| {
            let (info, gt) = load_gt(&seq)?;
            let text = std::fs::read_to_string(&results)
                .input_err(|| format!("cannot read '{}'", results.display()))?;
            let dets = parse_detection_rows(&text, info.length)
                .map_err(|e| Error::input(format!("'{}' {e}", results.display())))?;
            let frames = detections::frames(&gt, &dets, info.length, min_visibility);
            Ok((name, Matches::of_frames(&frames)))
        })
        .collect()
}

/// Each sequence of `gt_dir` (name, folder) with its file `res_dir/SEQ.txt`; a sequence without
/// one is an error naming it.
fn sequences_with_results(
    gt_dir: &Path,
    res_dir: &Path,
) -> Result<Vec<(String, PathBuf, PathBuf)>> {
    let seqs = sequences(gt_dir)?;
    let has_results = std::fs::read_dir(res_dir)
        .input_err(|| format!("results folder '{}'", res_dir.display()))?
        .filter_map(|e| e.ok())
        .any(|e| e.path().extension().is_some_and(|x| x == "txt"));
    if !has_results {
        return Err(Error::input(format!(
            "results folder '{}' has no SEQ.txt result files",
            res_dir.display()
        )));
    }
    seqs.into_iter()
        .map(|seq| {
            let name = seq
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let results = res_dir.join(format!("{name}.txt"));
            if !results.is_file() {
                return Err(Error::input(format!(
                    "no results for sequence {name}: '{}' is missing",
                    results.display()
                )));
            }
            Ok((name, seq, results))
        })
        .collect()
}
