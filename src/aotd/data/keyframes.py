"""A STAR dataset's annotated key frames: which classes a detector is scored on and their boxes.

Ground truth, read from the STAR situations (real STAR's or a generated world's): step 1 scores
detectors on it (Table 1), the embedded CNN detector trains on another world's, and evaluation
checks quoted boxes against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aotd.data.loaders import load_dataset
from aotd.data.loaders.star import star_classes
from aotd.data.sampling import SampledFrames
from aotd.data.schema import QASample, Situation
from aotd.data.star_classes import StarClasses
from aotd.data.video import probe_video, read_frames

UNSCORED = frozenset({"person", "table"})
"""Classes no box is scored for: the actor (in every frame, never what a question is about) and
the table (several in a scene, so a single box per frame cannot answer it)."""

BoxTuple = tuple[float, float, float, float]


@dataclass(frozen=True)
class KeyFrames:
    """A video's annotated key frames: source frame indices and, per frame, class -> box."""

    video_id: str
    path: Path
    frames: tuple[int, ...]
    boxes: tuple[dict[str, BoxTuple], ...]

    def sampled(self) -> SampledFrames:
        """The key frames (``source_indices`` = ``frames``), decoded in one pass."""
        info = probe_video(self.path)
        pixels = read_frames(self.path, list(self.frames))
        return SampledFrames(frames=pixels, source_indices=list(self.frames), fps=info.fps or 1.0)


def scored_classes(classes: StarClasses) -> tuple[str, ...]:
    """The object classes a detector is asked for, in the class files' order: all but ``UNSCORED``."""
    return tuple(name for name in classes.objects.values() if name not in UNSCORED)


def situation_boxes(situation: Situation, classes: StarClasses) -> list[tuple[str, BoxTuple]]:
    """A STAR situation's boxes as (class name, (x1, y1, x2, y2)), in annotation order."""
    pairs = zip(situation.bbox_labels, situation.bbox)
    return [(classes.object_name(oid), (b[0], b[1], b[2], b[3])) for oid, b in pairs]


def annotated_keyframes(data: str | Path, split: str | None = None, limit: int | None = None) -> list[KeyFrames]:
    """``keyframes_of`` a STAR dataset's ``split`` (all splits if None), read from its files."""
    return keyframes_of(load_dataset("star", data, split=split).samples,
                        star_classes(data, required="key frames name their boxes' classes in them"), limit)


def keyframes_of(samples: Sequence[QASample], classes: StarClasses, limit: int | None = None) -> list[KeyFrames]:
    """Key frames of the first ``limit`` videos of ``samples`` in id order, as step 1's other
    scorers take their videos: every key frame any question of a video has."""
    per_video: dict[str, dict[int, dict[str, BoxTuple]]] = defaultdict(dict)
    paths: dict[str, Path] = {}
    chosen = set(sorted({s.video.video_id for s in samples if s.video.path is not None})[:limit])
    for sample in samples:
        if sample.video.video_id not in chosen or sample.video.path is None:
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
