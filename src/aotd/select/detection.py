"""Box-IoU scoring of a detector on a world's annotated key frames (the paper's Table 1 metric).

Each question's key frames (its STAR situations) are decoded once per video, the frames of a
video form one clip, and the detector is asked for every vocabulary class on that clip: an
annotated class is a (frame, class) pair scored by IoU (a miss scores 0), an absent class
that still gets a box is a false positive. ``table`` (several per frame) and ``person``
(never annotated) are not scored. The same key-frame reader feeds the CNN's training.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aotd.data.loaders import load_dataset
from aotd.data.sampling import SampledFrames
from aotd.data.schema import Situation
from aotd.data.star_classes import StarClasses
from aotd.data.video import probe_video, read_frames
from aotd.tools.base import Detector
from aotd.tools.clip import Clip
from aotd.world.vocab import OBJECT_CLASSES, PERSON

UNSCORED = frozenset({PERSON, "table"})
DETECTABLE: tuple[str, ...] = tuple(c.name for c in OBJECT_CLASSES if c.name not in UNSCORED)
"""The classes a single-box-per-frame detector can answer: unique in a scene and annotated."""

BoxTuple = tuple[float, float, float, float]


@dataclass(frozen=True)
class KeyFrames:
    """A video's annotated key frames: source frame indices and, per frame, class -> box."""

    video_id: str
    path: Path
    frames: tuple[int, ...]
    boxes: tuple[dict[str, BoxTuple], ...]

    def clip(self) -> Clip:
        """The key frames as one clip (id i = ``frames[i]``), decoded in one pass."""
        info = probe_video(self.path)
        pixels = read_frames(self.path, list(self.frames))
        return Clip(SampledFrames(frames=pixels, source_indices=list(self.frames), fps=info.fps or 1.0), self.video_id)


def situation_boxes(situation: Situation, classes: StarClasses) -> list[tuple[str, BoxTuple]]:
    """A STAR situation's boxes as (class name, (x1, y1, x2, y2)), in annotation order."""
    pairs = zip(situation.bbox_labels, situation.bbox)
    return [(classes.object_name(oid), (b[0], b[1], b[2], b[3])) for oid, b in pairs]


def annotated_keyframes(world_dir: str | Path, split: str | None = None, limit: int | None = None) -> list[KeyFrames]:
    """Key frames of the first ``limit`` questions of ``split`` (all splits if None), per video."""
    world = Path(world_dir)
    samples = load_dataset("star", world, split=split).samples
    classes = StarClasses.load(world / "annotations" / "classes")
    per_video: dict[str, dict[int, dict[str, BoxTuple]]] = defaultdict(dict)
    paths: dict[str, Path] = {}
    for sample in samples[:limit]:
        if sample.video.path is None:
            continue
        paths[sample.video.video_id] = sample.video.path
        for key, sit in (sample.situations or {}).items():
            boxes = {k: v for k, v in situation_boxes(sit, classes) if k not in UNSCORED}
            per_video[sample.video.video_id][int(key)] = boxes
    out = []
    for vid, frames in per_video.items():
        order = sorted(frames)
        out.append(KeyFrames(vid, paths[vid], tuple(order), tuple(frames[k] for k in order)))
    return out


def box_iou(a: BoxTuple, b: BoxTuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate_detector(detector: Detector, world_dir: str | Path, split: str | None = "val",
                      limit: int | None = None) -> dict[str, Any]:
    """Mean IoU, recall@0.5, false-positive rate and per-class IoU over the split's key frames.

    ``split=None`` scores every split (a world held out from training as a whole); ``limit``
    keeps the split's first questions. ``ms_per_frame`` is the detector's time per key frame
    with every class queried.
    """
    ious: dict[str, list[float]] = defaultdict(list)
    false_pos = absent = frames = 0
    seconds = 0.0
    for kf in annotated_keyframes(world_dir, split, limit):
        clip = kf.clip()
        frames += len(kf.frames)
        for cls in DETECTABLE:
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
        "per_class_iou": {cls: float(np.mean(ious[cls])) for cls in DETECTABLE if ious[cls]},
        "ms_per_frame": 1000 * seconds / frames if frames else 0.0,
    }
