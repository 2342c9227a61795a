"""Step-1 scores of recognition and grounding candidates on a generated world.

The world's ``annotations/videos.json`` holds each video's actions as (action id, start, end);
the class files beside it name each action's verb and object, and a grounder is asked for its
base-form phrase (``data.text.action_phrase``, "put down the cup").

Each video is sampled once (32 frames over the whole video, as tools see it) and decoded
once; every annotated action is then mapped onto sampled ids through the sampled source
indices. Recognition gets the clip trimmed to the action's ground-truth window (ground
truth for earlier steps, as the paper's step 1 does) and must rank that action first;
grounding gets the action's text and must find its window (temporal IoU).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aotd.data.loaders.star import star_classes
from aotd.data.text import action_phrase
from aotd.data.video import sample_video
from aotd.tools.base import ActionRecognizer, TemporalGrounder
from aotd.tools.clip import Clip
from aotd.tools.types import Window


@dataclass(frozen=True)
class RecognitionScore:
    top1: float
    n: int
    ms_per_clip: float


@dataclass(frozen=True)
class GroundingScore:
    mean_iou: float
    recall_at_05: float  # share of queries whose window has IoU >= 0.5
    n: int
    ms_per_clip: float


def action_frames(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    """An annotated [start_s, end_s) in seconds as an inclusive range of source frames."""
    first = round(start_s * fps)
    return first, max(first, round(end_s * fps) - 1)


def ids_window(source_indices: Sequence[int], first: int, last: int) -> Window:
    """Source frames [first, last] as sampled ids: the ids that fall inside, or the nearest id if none does."""
    ids = [i for i, s in enumerate(source_indices) if first <= s <= last]
    if not ids:
        mid = (first + last) // 2
        near = min(range(len(source_indices)), key=lambda i: abs(source_indices[i] - mid))
        return Window(near, near)
    return Window(ids[0], ids[-1])


def gt_window(clip: Clip, start_s: float, end_s: float) -> Window:
    """An annotated [start_s, end_s) in seconds as sampled ids (the nearest id if none falls inside)."""
    return ids_window(clip.sampled.source_indices, *action_frames(start_s, end_s, clip.sampled.fps))


def annotated_clips(world_dir: str | Path, split: str | None = "val",
                    limit: int | None = None) -> Iterator[tuple[Clip, list[tuple[str, str, Window]]]]:
    """Each video of ``split`` (all videos when None) as a 32-frame clip with its (verb, obj, window)s."""
    world_dir = Path(world_dir)
    meta = json.loads((world_dir / "annotations" / "videos.json").read_text())
    wc = star_classes(world_dir, required="step 1 reads the annotated actions' verbs and objects from them")
    chosen = [vid for vid, info in sorted(meta.items()) if split is None or info["split"] == split]
    for vid in chosen[:limit]:
        clip = Clip(sample_video(world_dir / "videos" / f"{vid}.mp4"), vid)
        actions = [(wc.action_verb(aid), wc.action_object(aid), gt_window(clip, s, e))
                   for aid, s, e in meta[vid]["actions"]]
        yield clip, actions


def evaluate_recognition(recognizer: ActionRecognizer, world_dir: str | Path, split: str | None = "val",
                         limit: int | None = None) -> RecognitionScore:
    """Top-1 accuracy on clips trimmed to each action's ground-truth window."""
    hits = n = 0
    elapsed = 0.0
    for clip, actions in annotated_clips(world_dir, split, limit):
        for verb, obj, w in actions:
            t0 = time.perf_counter()
            found = recognizer.recognize(clip.trim(w.start, w.end))
            elapsed += time.perf_counter() - t0
            hits += bool(found) and (found[0].verb, found[0].obj) == (verb, obj)
            n += 1
    return RecognitionScore(hits / max(1, n), n, 1000 * elapsed / max(1, n))


def evaluate_grounding(grounder: TemporalGrounder, world_dir: str | Path, split: str | None = "val",
                       limit: int | None = None) -> GroundingScore:
    """Mean temporal IoU and recall@0.5 of each annotated action's window, found from its text."""
    ious: list[float] = []
    elapsed = 0.0
    for clip, actions in annotated_clips(world_dir, split, limit):
        for verb, obj, w in actions:
            t0 = time.perf_counter()
            found = grounder.ground(clip, action_phrase(verb, obj))
            elapsed += time.perf_counter() - t0
            ious.append(0.0 if found is None else found.iou(w))
    n = len(ious)
    return GroundingScore(sum(ious) / max(1, n), sum(i >= 0.5 for i in ious) / max(1, n), n,
                          1000 * elapsed / max(1, n))
