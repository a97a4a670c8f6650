#!/usr/bin/env python3
"""Independent reference for `vigil eval-det`: the same figures computed by pycocotools' COCOeval.

MOTChallenge gt and detections become a COCO data set: every frame an image, the targets
(class 1, consider 1, visibility >= the bound) plain annotations, the ignored gt (classes 2, 7, 8,
12; pedestrians with consider 0 or below the visibility bound) crowd annotations, so that, as
pycocotools treats crowds, they absorb any number of detections that find no free target and
count neither as TP nor FP. Other classes are left out. Two settings make COCOeval apply vigil's
rule exactly:
  - IoU with an ignored box is the plain IoU, not the crowd rule (intersection over the
    detection's area): crowd flags are lifted while COCOeval computes its IoUs, and only there;
  - no cap on detections per image (maxDets above the largest frame), one area range ('all').
AP@0.5 and AP@0.5:0.95 are COCOeval.accumulate's precision averaged as summarize() averages it;
recall at 0.5 is its recall; TP, FP, ignored detections and the hits' mean IoU at 0.5 come from
its per-image matches (evalImgs).

Usage: eval_det_reference.py GT_DIR RES_DIR OUT.json [--min-visibility V]
  GT_DIR: a folder of sequences (SEQ/seqinfo.ini, SEQ/gt/gt.txt) or one sequence;
  RES_DIR: SEQ.txt per sequence, MOTChallenge det lines (frame,id,x,y,w,h,score,...).
"""
import argparse
import configparser
import contextlib
import json
import pathlib
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

DISTRACTORS = {2, 7, 8, 12}
PEDESTRIAN = 1
# Image ids: sequence number * FRAME_SPAN + frame, so that sorted ids are frames in order,
# sequences in order (the order COCOeval joins images in, which decides ties in score).
FRAME_SPAN = 10**7


def sequences(gt_dir):
    if (gt_dir / "gt/gt.txt").is_file():
        return [gt_dir]
    return sorted(d for d in gt_dir.iterdir() if (d / "gt/gt.txt").is_file())


def seq_length(seq):
    ini = configparser.ConfigParser()
    ini.optionxform = str
    ini.read(seq / "seqinfo.ini")
    return int(ini["Sequence"]["seqLength"])


def rows(path):
    """Numeric fields of each non-empty line."""
    return [[float(v) for v in line.split(",")] for line in path.read_text().splitlines() if line.strip()]


def gt_class(v):
    """MOT17 class, or -1 where the column holds something else (MOT15)."""
    c = v[7]
    return int(c) if c == int(c) and 1 <= c <= 12 else -1


def role(v, with_classes, min_visibility):
    # The ninth column is a visibility only on rows that have a class (not MOT15's world coordinates).
    visibility = v[8] if len(v) > 8 and gt_class(v) != -1 and 0 <= v[8] <= 1 else 1.0
    cls = gt_class(v) if with_classes else PEDESTRIAN
    if cls in DISTRACTORS:
        return "ignored"
    if cls != PEDESTRIAN:
        return None
    if int(v[6]) == 0 or visibility < min_visibility:
        return "ignored"
    return "target"


def build(gt_dir, res_dir, min_visibility):
    """The COCO gt and detection lists, and each sequence's image ids."""
    images, gt_anns, dets, seq_images = [], [], [], {}
    for n, seq in enumerate(sequences(gt_dir), start=1):
        length = seq_length(seq)
        ids = [n * FRAME_SPAN + f for f in range(1, length + 1)]
        seq_images[seq.name] = ids
        images += [{"id": i} for i in ids]
        gt = [v for v in rows(seq / "gt/gt.txt") if v[0] <= length]
        with_classes = bool(gt) and all(gt_class(v) != -1 for v in gt)
        for v in gt:
            r = role(v, with_classes, min_visibility)
            if r is None:
                continue
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": n * FRAME_SPAN + int(v[0]),
                            "category_id": 1, "bbox": v[2:6], "area": v[4] * v[5],
                            "iscrowd": int(r == "ignored")})
        res = res_dir / f"{seq.name}.txt"
        if not res.is_file():
            sys.exit(f"no detections for {seq.name}: {res} is missing")
        for v in rows(res):
            assert 1 <= v[0] <= length, f"{res}: frame {v[0]} outside 1..{length}"
            dets.append({"image_id": n * FRAME_SPAN + int(v[0]), "category_id": 1,
                         "bbox": v[2:6], "score": v[6]})
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": gt_anns,
                       "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(sys.stderr):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
    return coco_gt, coco_dt, seq_images


class PlainIouEval(COCOeval):
    """COCOeval whose IoU with crowd (ignored) boxes is the plain IoU; matching still lets a
    crowd box take any number of detections."""

    def computeIoU(self, imgId, catId):
        gts = self._gts[imgId, catId]
        crowd = [g["iscrowd"] for g in gts]
        for g in gts:
            g["iscrowd"] = 0
        try:
            return super().computeIoU(imgId, catId)
        finally:
            for g, c in zip(gts, crowd):
                g["iscrowd"] = c


def figures(coco_gt, coco_dt, image_ids):
    ev = PlainIouEval(coco_gt, coco_dt, iouType="bbox")
    p = ev.params
    p.imgIds = image_ids
    p.catIds = [1]
    most = max((len(coco_dt.getAnnIds(imgIds=[i])) for i in image_ids), default=0)
    p.maxDets = [most + 1]
    p.areaRng, p.areaRngLbl = [[0, 1e10]], ["all"]
    with contextlib.redirect_stdout(sys.stderr):
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, 0, 0, 0]  # thresholds x recall points
    recall = ev.eval["recall"][0, 0, 0, 0]
    assert np.allclose(p.iouThrs[0], 0.5)
    tp = fp = ignored = targets = 0
    hit_iou = 0.0
    for e in ev.evalImgs:
        if e is None:
            continue
        targets += int(np.count_nonzero(e["gtIgnore"] == 0))
        matched, dropped = e["dtMatches"][0], e["dtIgnore"][0].astype(bool)
        tp += int(np.count_nonzero((matched > 0) & ~dropped))
        fp += int(np.count_nonzero((matched == 0) & ~dropped))
        ignored += int(np.count_nonzero(dropped))
        # ious: detections by descending score (as in the image's evaluation) x gt in index order.
        ious = ev.ious[e["image_id"], 1]
        column = {g["id"]: k for k, g in enumerate(ev._gts[e["image_id"], 1])}
        for d, gid in enumerate(matched):
            if gid > 0 and not dropped[d]:
                hit_iou += float(ious[d, column[int(gid)]])
    defined = precision[0] > -1
    return {
        "targets": targets,
        "detections": sum(len(coco_dt.getAnnIds(imgIds=[i])) for i in image_ids),
        "tp": tp,
        "fp": fp,
        "ignored": ignored,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": float(recall) if targets else None,
        "ap50": float(np.mean(precision[0])) if defined.all() else None,
        "ap50_95": float(np.mean(precision)) if (precision > -1).all() else None,
        "mean_iou": hit_iou / tp if tp else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gt", type=pathlib.Path)
    ap.add_argument("res", type=pathlib.Path)
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--min-visibility", type=float, default=0.0)
    a = ap.parse_args()
    coco_gt, coco_dt, seq_images = build(a.gt, a.res, a.min_visibility)
    report = {name: figures(coco_gt, coco_dt, ids) for name, ids in seq_images.items()}
    report["COMBINED"] = figures(coco_gt, coco_dt, [i for ids in seq_images.values() for i in ids])
    a.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for name, f in report.items():
        print(name, {k: (round(v, 6) if isinstance(v, float) else v) for k, v in f.items()})


if __name__ == "__main__":
    main()
