"""Box-IoU scoring of a detector on a STAR dataset's annotated key frames (the paper's Table 1 metric).

Each question's key frames (its STAR situations) are decoded once per video, the frames of a
video form one clip, and the detector is asked for every scored class on that clip: an
annotated class is a (frame, class) pair scored by IoU (a miss scores 0), an absent class
that still gets a box is a false positive. ``table`` (several per frame) and ``person``
(the actor) are not scored (``data.keyframes`` reads the key frames and says which classes are).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from aotd.data.keyframes import BoxTuple, KeyFrames
from aotd.tools.base import Detector
from aotd.tools.clip import Clip


def box_iou(a: BoxTuple, b: BoxTuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate_detector(detector: Detector, keyframes: Sequence[KeyFrames], classes: Sequence[str]) -> dict[str, Any]:
    """Mean IoU, recall@0.5, false-positive rate and per-class IoU over annotated key frames
    (``data.keyframes.annotated_keyframes`` of a split, or of a whole held-out world), asking for
    each of ``classes`` (``data.keyframes.scored_classes`` of the dataset's class files).
    ``ms_per_frame`` is the detector's time per key frame with every class queried.
    """
    ious: dict[str, list[float]] = defaultdict(list)
    false_pos = absent = frames = 0
    seconds = 0.0
    for kf in keyframes:
        clip = Clip(kf.sampled(), kf.video_id)
        frames += len(kf.frames)
        for cls in classes:
            t0 = time.perf_counter()
            found = {b.frame: (b.x1, b.y1, b.x2, b.y2) for b in detector.detect(clip, cls)}
            seconds += time.perf_counter() - t0
            for i, truth in enumerate(kf.boxes):
                if cls in truth:
                    ious[cls].append(box_iou(found[i], truth[cls]) if i in found else 0.0)
                else:
                    absent += 1
                    false_pos += i in found
    scores = np.array([v for values in ious.values() for v in values])
    return {
        "detector": detector.name,
        "frames": frames,
        "pairs": int(scores.size),
        "mean_iou": float(scores.mean()) if scores.size else 0.0,
        "recall_at_0.5": float((scores >= 0.5).mean()) if scores.size else 0.0,
        "fp_rate": false_pos / absent if absent else 0.0,
        "per_class_iou": {cls: float(np.mean(ious[cls])) for cls in classes if ious[cls]},
        "ms_per_frame": 1000 * seconds / frames if frames else 0.0,
    }
