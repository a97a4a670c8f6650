"""Greedy class-aware NMS in numpy, as vigil's contract says (suppress IoU > thr, descending
score, ties in input order): shared by the reference scripts in this folder."""
import numpy as np


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
