#!/usr/bin/env python3
"""Scores MOTChallenge results with TrackEval from PyPI, to cross-check `vigil eval` on them.

    trackeval_crosscheck.py GT_DIR RES_DIR      (run by scripts/peer_comparison.sh, in its venv)

A GT_DIR whose path names MOT15 is scored with TrackEval's MOT15 rules (no class column).

GT_DIR holds SEQ/gt/gt.txt and SEQ/seqinfo.ini, RES_DIR holds SEQ.txt. Prints one line with the
combined HOTA / MOTA / IDF1 / IDSW, in the units `vigil eval` prints.
"""
import contextlib
import io
import os
import sys
import tempfile

from seqinfo import seqinfo

with contextlib.redirect_stdout(io.StringIO()):  # it reports optional parts it cannot load
    import trackeval


def main(gt_dir, res_dir):
    lengths = {seq: seqinfo(os.path.join(gt_dir, seq), "seqLength", int)
               for seq in sorted(os.listdir(gt_dir)) if os.path.isdir(os.path.join(gt_dir, seq))}
    with tempfile.TemporaryDirectory() as tmp:
        # TrackEval wants TRACKERS_FOLDER/NAME/data/SEQ.txt.
        data = os.path.join(tmp, "vigil", "data")
        os.makedirs(data)
        for seq in lengths:
            os.symlink(os.path.abspath(os.path.join(res_dir, seq + ".txt")),
                       os.path.join(data, seq + ".txt"))
        dataset = trackeval.datasets.MotChallenge2DBox({
            "GT_FOLDER": gt_dir, "TRACKERS_FOLDER": tmp, "SKIP_SPLIT_FOL": True,
            "BENCHMARK": "MOT15" if "MOT15" in os.path.abspath(gt_dir) else "MOT17",
            "SEQ_INFO": lengths, "TRACKERS_TO_EVAL": ["vigil"], "PRINT_CONFIG": False,
        })
        evaluator = trackeval.Evaluator({
            "USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
            "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
            "OUTPUT_EMPTY_CLASSES": False, "TIME_PROGRESS": False,
        })
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(),
                       trackeval.metrics.Identity()]
            results, _ = evaluator.evaluate([dataset], metrics)
    combined = results["MotChallenge2DBox"]["vigil"]["COMBINED_SEQ"]["pedestrian"]
    hota = 100 * combined["HOTA"]["HOTA"].mean()
    mota = 100 * combined["CLEAR"]["MOTA"]
    idf1 = 100 * combined["Identity"]["IDF1"]
    print(f"{hota:.3f} / {mota:.3f} / {idf1:.3f} / {int(combined['CLEAR']['IDSW'])}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
