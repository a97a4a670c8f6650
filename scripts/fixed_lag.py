#!/usr/bin/env python3
"""The offline definition of vigil's fixed-lag output (`--lag`), applied to MOTChallenge results.

    scripts/fixed_lag.py GT_DIR RES_IN RES_OUT LAG_S [SMOOTHING_S]

Reads every RES_IN/SEQ.txt (any tracker's output), takes each sequence's frame rate from
GT_DIR/SEQ/seqinfo.ini, and writes RES_OUT/SEQ.txt with what `vigil track --lag LAG_S` would
have written had that tracker been vigil's: gaps re-found within the lag filled by linear
interpolation, every box smoothed by a Gaussian of SMOOTHING_S seconds (default 0.067) cut at
two standard deviations, at the lag, and symmetrically at the ends of what is known.

It is written per track over the whole file, independently of the streaming code in
src/track/lag.rs, so it serves two ends: tests/detections_cli.rs checks the stream against it,
and scripts/peer_comparison.sh gives other trackers the same post-processing for a fair
comparison. Standard library only.
"""
import math
import os
import sys
from collections import defaultdict

from seqinfo import seqinfo


def lag_track(boxes, fps, lag_s, smoothing_s):
    """One track's {frame: (x1, y1, x2, y2)} → the boxes written after the lag."""
    # A frame waits `hold` frames; a gap is filled only if its start is still waiting when the
    # track comes back, and a filled box reaches the smoothing of a frame only if it was filled
    # before that frame left.
    hold = next(k for k in range(1 << 30) if k / fps + 1e-9 >= lag_s)
    known, filled_by = dict(boxes), {}
    frames = sorted(boxes)
    for a, b in zip(frames, frames[1:]):
        if b - a > 1 and (b - 1 - a) / fps + 1e-9 < lag_s:
            for f in range(a + 1, b):
                k = (f - a) / (b - a)
                known[f] = tuple(p + (q - p) * k for p, q in zip(boxes[a], boxes[b]))
                filled_by[f] = b
    reach = min(2 * smoothing_s, lag_s)
    span = int(math.floor(reach * fps + 1e-6))
    out = {}
    for f in sorted(known):
        near = [g for g in range(f - span, f + span + 1)
                if g in known and filled_by.get(g, 0) <= f + hold]
        # Symmetric: never further on one side than the samples go on the other.
        half = min(span, f - min(near), max(near) - f)
        total, acc = 0.0, [0.0] * 4
        for g in near:
            if abs(g - f) <= half:
                w = 1.0 if g == f else math.exp(-0.5 * ((g - f) / fps / smoothing_s) ** 2)
                acc = [s + w * v for s, v in zip(acc, known[g])]
                total += w
        out[f] = tuple(s / total for s in acc)
    return out


def read_results(path):
    tracks = defaultdict(dict)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            cols = line.strip().split(",")
            if len(cols) < 6:
                raise SystemExit(f"{path}:{n}: expected at least 6 columns")
            try:
                frame, tid = int(float(cols[0])), int(float(cols[1]))
                x, y, w, h = map(float, cols[2:6])
            except ValueError:
                raise SystemExit(f"{path}:{n}: not a number in {line.strip()!r}")
            tracks[tid][frame] = (x, y, x + w, y + h)
    return tracks


def main(gt_dir, res_in, res_out, lag_s, smoothing_s=0.067):
    os.makedirs(res_out, exist_ok=True)
    for name in sorted(os.listdir(res_in)):
        if not name.endswith(".txt"):
            continue
        fps = seqinfo(os.path.join(gt_dir, name[:-4]), "frameRate")
        rows = []
        for tid, boxes in read_results(os.path.join(res_in, name)).items():
            lagged = lag_track(boxes, fps, lag_s, smoothing_s)
            rows.extend((f, tid, b) for f, b in lagged.items())
        with open(os.path.join(res_out, name), "w") as f:
            for frame, tid, (x1, y1, x2, y2) in sorted(rows):
                f.write(f"{frame},{tid},{x1:.3f},{y1:.3f},{x2 - x1:.3f},{y2 - y1:.3f},1,-1,-1,-1\n")


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        raise SystemExit("usage: " + __doc__.strip().splitlines()[2].strip())
    try:
        seconds = [float(v) for v in sys.argv[4:]]
        main(sys.argv[1], sys.argv[2], sys.argv[3], *seconds)
    except ValueError as e:
        raise SystemExit(f"fixed_lag.py: {e}")
    except OSError as e:
        raise SystemExit(f"fixed_lag.py: {e.filename}: {e.strerror}")
