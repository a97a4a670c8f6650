#!/usr/bin/env python3
"""Independent reference for vigil's detector: a model run by Python onnxruntime, decoded and
NMS'd with numpy, written as a golden file (tests/golden/detections*.json).

Same contract as vigil. Letterbox: ratio min(S/h, S/w), Python rounding, INTER_LINEAR, pad 114.
- yolox: top-left, BGR 0-255 CHW float32, grid decode on strides 8/16/32, score = objectness *
  best class score.
- yolov8 (Ultralytics): centred ((S - n) // 2), RGB / 255, output [1, 4 + C, N] of decoded
  cx, cy, w, h and class scores, score = best class score.
Then: keep score > conf, boxes mapped back through the letterbox, greedy class-aware NMS
(suppress IoU > iou).

Usage: detections_reference.py SHARED_DIR MODEL OUT.json [--family yolox|yolov8] [--conf 0.1] [--iou 0.45]
"""
import argparse, json, pathlib

import cv2
import numpy as np
import onnxruntime as ort

from nms_reference import nms

VTEST_FRAMES = [0, 1, 100, 250, 500]


def letterbox(img, size, centred):
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    top, left = ((size - nh) // 2, (size - nw) // 2) if centred else (0, 0)
    canvas = np.full((size, size, 3), 114, np.uint8)
    resized = img if (nw, nh) == (w, h) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas[top:top + nh, left:left + nw] = resized
    return canvas, r, left, top


def decode(out, size):
    rows = []
    for stride in (8, 16, 32):
        n = size // stride
        gy, gx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        rows.append(np.stack([gx.ravel(), gy.ravel(), np.full(n * n, stride)], 1))
    grid = np.concatenate(rows).astype(np.float32)
    cx = (out[:, 0] + grid[:, 0]) * grid[:, 2]
    cy = (out[:, 1] + grid[:, 1]) * grid[:, 2]
    w = np.exp(out[:, 2]) * grid[:, 2]
    h = np.exp(out[:, 3]) * grid[:, 2]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def yolox_candidates(out, size):
    out = out[0]
    cls_scores = out[:, 5:]
    classes = cls_scores.argmax(1)
    scores = out[:, 4] * cls_scores[np.arange(len(classes)), classes]
    return decode(out, size), scores, classes


def yolov8_candidates(out):
    out = out[0]  # [4 + C, N]
    cls_scores = out[4:]
    classes = cls_scores.argmax(0)
    scores = cls_scores[classes, np.arange(out.shape[1])]
    cx, cy, w, h = out[0], out[1], out[2], out[3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), scores, classes


def detect(sess, img, family, conf, iou):
    size = sess.get_inputs()[0].shape[2]
    yolox = family == "yolox"
    canvas, r, left, top = letterbox(img, size, centred=not yolox)
    if yolox:
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    else:
        blob = (canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)) * np.float32(1 / 255)
    out = sess.run(None, {sess.get_inputs()[0].name: blob})[0]
    boxes, scores, classes = yolox_candidates(out, size) if yolox else yolov8_candidates(out)
    keep = scores > conf
    boxes = (boxes[keep] - np.array([left, top, left, top], np.float32)) / r
    scores, classes = scores[keep], classes[keep]
    idx = nms(boxes, scores, classes, iou)
    return [[*map(float, boxes[i]), float(scores[i]), int(classes[i])] for i in idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shared"); ap.add_argument("model"); ap.add_argument("out")
    ap.add_argument("--family", choices=["yolox", "yolov8"], default="yolox")
    ap.add_argument("--conf", type=float, default=0.1); ap.add_argument("--iou", type=float, default=0.45)
    a = ap.parse_args()
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    shared = pathlib.Path(a.shared)
    records = []
    for img_path in sorted((shared / "mot/MOT17-mini").glob("*/img1/*.jpg")):
        rel = img_path.relative_to(shared).as_posix()
        records.append({"source": rel, "frame": 0, "detections": detect(sess, cv2.imread(str(img_path)), a.family, a.conf, a.iou)})
    cap = cv2.VideoCapture(str(shared / "videos/vtest.avi"))
    for n in range(max(VTEST_FRAMES) + 1):
        ok, frame = cap.read()
        assert ok, f"vtest.avi frame {n}"
        if n in VTEST_FRAMES:
            records.append({"source": "videos/vtest.avi", "frame": n, "detections": detect(sess, frame, a.family, a.conf, a.iou)})
    meta = {"model": pathlib.Path(a.model).name, "family": a.family, "conf": a.conf, "iou": a.iou,
            "onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__}
    pathlib.Path(a.out).write_text(json.dumps({"meta": meta, "images": records}, indent=0) + "\n")
    print(f"{len(records)} images, {sum(len(r['detections']) for r in records)} detections -> {a.out}")


if __name__ == "__main__":
    main()
