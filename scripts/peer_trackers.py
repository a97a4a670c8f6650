#!/usr/bin/env python3
"""Roboflow `trackers` (PyPI 2.6.1: SORT, ByteTrack, OC-SORT, BoT-SORT, C-BIoU, McByte) run on the
same MOTChallenge detections as vigil, online, with their default parameters, writing one
MOTChallenge result file per sequence for `vigil eval`. BoT-SORT and McByte are given the
sequence's camera motion file (BoT-SORT's GMC format, the file vigil's --camera-motion reads) in
place of the motion they would measure from the pictures; the other runs have none.

    peer_trackers.py GT_DIR OUT_DIR [--detections det/det.txt] [--gmc gmc/botsort.txt]
        (run by scripts/peer_comparison.sh in its venv: pip install trackers==2.6.1)
Writes OUT_DIR/TRACKER/SEQ.txt for each tracker and sequence.
"""
import argparse
import configparser
import os
import sys

import numpy as np
import supervision as sv
import trackers

PLAIN = ["SORTTracker", "ByteTrackTracker", "OCSORTTracker", "CBIoUTracker"]
WITH_CMC = ["BoTSORTTracker", "McByteTracker"]


class GivenMotion:
    """Stands in for the trackers' own camera motion estimate: the file's map into this frame."""

    def __init__(self, maps):
        self.maps, self.frame = maps, 0

    def estimate(self, _frame, _boxes=None):
        return self.maps.get(self.frame, np.eye(2, 3, dtype=np.float32))

    def reset(self):
        pass


def seqinfo(seq):
    ini = configparser.ConfigParser()
    ini.read(os.path.join(seq, "seqinfo.ini"))
    s = ini["Sequence"]
    return int(s["seqLength"]), float(s["frameRate"])


def detections(path, length):
    by_frame = {f: [] for f in range(1, length + 1)}
    for line in open(path):
        v = line.strip().split(",")
        if len(v) < 7:
            continue
        f = int(float(v[0]))
        if 1 <= f <= length:
            x, y, w, h, s = map(float, v[2:7])
            by_frame[f].append((x, y, x + w, y + h, s))
    return by_frame


def motion(path, length):
    """Line j (0-based) is the camera's map from frame j to frame j + 1 (1-based: into frame j + 1)."""
    maps = {}
    for j, line in enumerate(open(path)):
        v = line.split()
        if len(v) >= 7 and j + 1 <= length:
            maps[j + 1] = np.array([float(x) for x in v[1:7]], dtype=np.float32).reshape(2, 3)
    return maps


def run(name, seq, dets, length, fps, maps, out):
    cls = getattr(trackers, name)
    if name in WITH_CMC:
        tracker = cls(frame_rate=fps, enable_cmc=maps is not None)
        if maps is not None:
            tracker.cmc = GivenMotion(maps)
    else:
        tracker = cls(frame_rate=fps)
    dummy = np.zeros((2, 2, 3), dtype=np.uint8)
    rows = []
    for f in range(1, length + 1):
        d = dets[f]
        xyxy = np.array([r[:4] for r in d], dtype=np.float32).reshape(-1, 4)
        found = sv.Detections(
            xyxy=xyxy,
            confidence=np.array([r[4] for r in d], dtype=np.float32),
            class_id=np.zeros(len(d), dtype=int),
        )
        if maps is not None and name in WITH_CMC:
            tracker.cmc.frame = f
            tracked = tracker.update(found, frame=dummy)
        else:
            tracked = tracker.update(found)
        ids = tracked.tracker_id if tracked.tracker_id is not None else []
        for box, tid, score in zip(tracked.xyxy, ids, tracked.confidence if tracked.confidence is not None else [1.0] * len(ids)):
            if tid is None or tid < 0:
                continue
            x1, y1, x2, y2 = map(float, box)
            rows.append(f"{f},{int(tid) + 1},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{float(score):.4f},-1,-1,-1\n")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, os.path.basename(seq) + ".txt"), "w") as fh:
        fh.writelines(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gt")
    ap.add_argument("out")
    ap.add_argument("--detections", default="det/det.txt")
    ap.add_argument("--gmc", default="gmc/botsort.txt")
    args = ap.parse_args()
    seqs = sorted(os.path.join(args.gt, s) for s in os.listdir(args.gt) if os.path.isfile(os.path.join(args.gt, s, "seqinfo.ini")))
    for seq in seqs:
        length, fps = seqinfo(seq)
        dets = detections(os.path.join(seq, args.detections), length)
        gmc = os.path.join(seq, args.gmc)
        maps = motion(gmc, length) if os.path.isfile(gmc) else None
        for name in PLAIN + WITH_CMC:
            run(name, seq, dets, length, fps, None, os.path.join(args.out, name))
        for name in WITH_CMC:
            if maps is not None:
                run(name, seq, dets, length, fps, maps, os.path.join(args.out, name + "+gmc"))
        print(os.path.basename(seq), "done", file=sys.stderr)


if __name__ == "__main__":
    main()
