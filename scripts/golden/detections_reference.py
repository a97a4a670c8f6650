#!/usr/bin/env python3
"""Independent reference for vigil's detector: YOLOX-Nano run by Python onnxruntime, decoded and
NMS'd with numpy, written as the golden file tests/golden/detections.json.

Same contract as vigil: letterbox top-left (ratio min(S/h, S/w), Python rounding, INTER_LINEAR,
pad 114), BGR 0-255 CHW float32, grid decode on strides 8/16/32, score = objectness * best class
score, keep score > conf, boxes divided by the ratio, greedy class-aware NMS (suppress IoU > iou).

Usage: detections_reference.py SHARED_DIR MODEL OUT.json [--conf 0.1] [--iou 0.45]
"""
import argparse, json, pathlib

import cv2
import numpy as np
import onnxruntime as ort

VTEST_FRAMES = [0, 1, 100, 250, 500]


def letterbox(img, size):
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[:nh, :nw] = img if (nw, nh) == (w, h) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, r


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


def iou_one_to_many(box, boxes):
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def nms(boxes, scores, classes, thr):
    order = np.argsort(-scores, kind="stable")
    keep = []
    for i in order:
        same = [k for k in keep if classes[k] == classes[i]]
        if same and iou_one_to_many(boxes[i], boxes[same]).max() > thr:
            continue
        keep.append(i)
    return keep


def detect(sess, img, conf, iou):
    size = sess.get_inputs()[0].shape[2]
    canvas, r = letterbox(img, size)
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    out = sess.run(None, {sess.get_inputs()[0].name: blob})[0][0]
    cls_scores = out[:, 5:]
    classes = cls_scores.argmax(1)
    scores = out[:, 4] * cls_scores[np.arange(len(classes)), classes]
    keep = scores > conf
    boxes = decode(out, size)[keep] / r
    scores, classes = scores[keep], classes[keep]
    idx = nms(boxes, scores, classes, iou)
    return [[*map(float, boxes[i]), float(scores[i]), int(classes[i])] for i in idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shared"); ap.add_argument("model"); ap.add_argument("out")
    ap.add_argument("--conf", type=float, default=0.1); ap.add_argument("--iou", type=float, default=0.45)
    a = ap.parse_args()
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    shared = pathlib.Path(a.shared)
    records = []
    for img_path in sorted((shared / "mot/MOT17-mini").glob("*/img1/*.jpg")):
        rel = img_path.relative_to(shared).as_posix()
        records.append({"source": rel, "frame": 0, "detections": detect(sess, cv2.imread(str(img_path)), a.conf, a.iou)})
    cap = cv2.VideoCapture(str(shared / "videos/vtest.avi"))
    for n in range(max(VTEST_FRAMES) + 1):
        ok, frame = cap.read()
        assert ok, f"vtest.avi frame {n}"
        if n in VTEST_FRAMES:
            records.append({"source": "videos/vtest.avi", "frame": n, "detections": detect(sess, frame, a.conf, a.iou)})
    meta = {"model": pathlib.Path(a.model).name, "conf": a.conf, "iou": a.iou,
            "onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__}
    pathlib.Path(a.out).write_text(json.dumps({"meta": meta, "images": records}, indent=0) + "\n")
    print(f"{len(records)} images, {sum(len(r['detections']) for r in records)} detections -> {a.out}")


if __name__ == "__main__":
    main()
