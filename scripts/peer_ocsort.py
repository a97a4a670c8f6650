#!/usr/bin/env python3
"""Runs the PyPI `ocsort` package (OC-SORT, the best peer of issue 3's yardstick, min score 0.4)
on every SEQ/det/det.txt under a MOTChallenge folder and writes OUT/SEQ.txt.

    peer_ocsort.py SEQS_DIR OUT_DIR [DETECTIONS]   (run by scripts/peer_comparison.sh, in its
                                                    venv; DETECTIONS default det/det.txt)
"""
import os
import sys

import numpy as np
from ocsort import OCSort
from seqinfo import seqinfo


class Frame(np.ndarray):
    """The package calls `.numpy()` on its input, as on a torch tensor."""

    def numpy(self):
        return np.asarray(self)


def track(seq_dir, out_path, detections):
    dets = np.loadtxt(os.path.join(seq_dir, detections), delimiter=",", ndmin=2)
    tracker = OCSort(det_thresh=0.4)
    with open(out_path, "w") as out:
        for frame in range(1, seqinfo(seq_dir, "seqLength", int) + 1):
            d = dets[dets[:, 0] == frame]
            # x1, y1, x2, y2, score, class
            rows = np.column_stack(
                [d[:, 2], d[:, 3], d[:, 2] + d[:, 4], d[:, 3] + d[:, 5], d[:, 6], np.zeros(len(d))]
            )
            for x1, y1, x2, y2, tid, *_ in tracker.update(rows.view(Frame), None):
                out.write(f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1\n")


if __name__ == "__main__":
    seqs, out = sys.argv[1], sys.argv[2]
    detections = sys.argv[3] if len(sys.argv) > 3 else "det/det.txt"
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(seqs)):
        if os.path.isdir(os.path.join(seqs, name)):
            track(os.path.join(seqs, name), os.path.join(out, name + ".txt"), detections)
