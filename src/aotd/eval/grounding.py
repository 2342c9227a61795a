"""Grounding in rationales (paper Table 7): windows and boxes read from text, scored against annotations.

A distilled model's rationale speaks as the converters write: action windows "from frame 12 to
frame 18", frame ranges "frames 3 to 7 and 9" (where an object is seen, where the reasoning
looks), boxes "[x1, y1, x2, y2] in frame 14", all in sampled ids 0..31. ``parse_grounding``
reads them back; ``score_grounding`` compares them with the ground truth of the question's
32 frames (``ground_truth``): temporal IoU and recall@0.5 of each predicted window against its
best-matching annotated action window, box IoU of each predicted box against the best
annotated box of its frame. Ground truth is read here, in evaluation, never by tools.

Ground truth reuses step 1's mapping: ``select.actions`` (annotated action windows onto
sampled ids) and ``select.detection`` (a situation's boxes, without the unscored classes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aotd.data.keyframes import UNSCORED, BoxTuple, situation_boxes
from aotd.data.sampling import sample_indices, window_to_frames
from aotd.data.schema import NUM_FRAMES, QASample, Situation
from aotd.data.star_classes import StarClasses
from aotd.llm.base import strip_thinking
from aotd.select.actions import action_frames, ids_window
from aotd.select.detection import box_iou
from aotd.tools.types import Window

WindowKind = Literal["action", "span"]

# --- parsing -----------------------------------------------------------------------------------
_INT = r"(\d+)(?!\d|\.\d)"
_NUM = r"(-?\d+(?:\.\d+)?)"
_BOX = re.compile(rf"[\[(]\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*[\])]")
_BOX_FRAME_AFTER = re.compile(rf"\s*,?\s*(?:(?:in|at|on|of|for)\s+)?(?:the\s+)?frame\s+{_INT}", re.IGNORECASE)
_BOX_FRAME_BEFORE = re.compile(rf"\bframe\s+{_INT}\s*[,:]?\s*(?:(?:at|is|in)\s+)?(?:the\s+)?(?:box\s+)?$",
                               re.IGNORECASE)
_TO = r"(?:to|until|till|through|thru|-|–|—)"
_FROM = re.compile(rf"\bfrom\s+(?:the\s+)?frames?\s+{_INT}\s*{_TO}\s*(?:the\s+)?(?:frame\s+)?{_INT}", re.IGNORECASE)
_BETWEEN = re.compile(rf"\bbetween\s+(?:the\s+)?frames?\s+{_INT}\s*(?:and|{_TO})\s*(?:the\s+)?(?:frame\s+)?{_INT}",
                      re.IGNORECASE)
_ITEM = rf"\d+(?!\d|\.\d)(?:\s*{_TO}\s*(?:frame\s+)?\d+(?!\d|\.\d))?"
_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)"
_LIST = re.compile(rf"\bframes?\s+({_ITEM}(?:{_SEP}{_ITEM})*)", re.IGNORECASE)
_LIST_ITEM = re.compile(rf"(\d+)(?:\s*{_TO}\s*(?:frame\s+)?(\d+))?", re.IGNORECASE)
_NEAR = 40  # characters before a box searched for the "frame N" it belongs to


@dataclass(frozen=True)
class PredWindow:
    """A window a rationale states, in sampled ids. ``kind`` is "action" for "from frame A to
    frame B" / "between frames A and B" (where something happens), "span" for "frames A to B",
    "frames 3 to 7 and 9", "frame 14" (where an object is seen or the reasoning looks)."""

    start: int
    end: int
    kind: WindowKind

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


@dataclass(frozen=True)
class PredBox:
    """A box a rationale states; ``frame`` is None when the text gives no frame for it."""

    frame: int | None
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def box(self) -> BoxTuple:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Grounding:
    """Everything a rationale grounds, each item once, in the order of the text; ``invalid``
    holds what looked like grounding but cannot be: frames outside 0..N-1, reversed windows,
    boxes with x2 <= x1 or y2 <= y1."""

    windows: tuple[PredWindow, ...] = ()
    boxes: tuple[PredBox, ...] = ()
    invalid: tuple[str, ...] = ()

    def action_windows(self) -> list[Window]:
        return [w.window for w in self.windows if w.kind == "action"]

    def all_windows(self) -> list[Window]:
        return [w.window for w in self.windows]

    @property
    def empty(self) -> bool:
        return not self.windows and not self.boxes


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def parse_grounding(text: str, num_frames: int = NUM_FRAMES) -> Grounding:
    """The windows and boxes of a rationale, in sampled frame ids ``0..num_frames-1``.

    Boxes: four numbers in brackets, with the frame from "in frame N" right after them
    ("[140, 88, 172, 120] in frame 9") or "frame N" right before ("in frame 9 at [...]"),
    else frame None. Windows: "from frame A to frame B", "from frames A-B", "between frames A
    and B" (kind "action"); "frames A to B", "frames 3 to 7 and 9 to 11", "frames 0 to 2, 5 and
    9", "frame 14" (kind "span", one window per item). A box's own "frame N" is not a window.
    """
    text = strip_thinking(str(text))
    windows: dict[tuple[int, int, WindowKind], None] = {}
    boxes: dict[PredBox, None] = {}
    invalid: list[str] = []

    def in_range(f: int) -> bool:
        return 0 <= f < num_frames

    for m in list(_BOX.finditer(text)):
        x1, y1, x2, y2 = (float(v) for v in m.groups())
        frame: int | None = None
        after = _BOX_FRAME_AFTER.match(text, m.end())
        before = _BOX_FRAME_BEFORE.search(text[max(0, m.start() - _NEAR):m.start()])
        if after:
            frame = int(after.group(1))
            text = _mask(text, after.start(), after.end())
        elif before:
            frame = int(before.group(1))
            offset = max(0, m.start() - _NEAR)
            text = _mask(text, offset + before.start(), offset + before.end())
        raw = m.group(0) + ("" if frame is None else f" in frame {frame}")
        text = _mask(text, m.start(), m.end())
        if frame is not None and not in_range(frame) or x2 <= x1 or y2 <= y1:
            invalid.append(raw)
            continue
        boxes[PredBox(frame, x1, y1, x2, y2)] = None

    def add(a: int, b: int, kind: WindowKind, raw: str) -> None:
        if in_range(a) and in_range(b) and a <= b:
            windows[(a, b, kind)] = None
        else:
            invalid.append(raw)

    for pattern in (_FROM, _BETWEEN):
        for m in list(pattern.finditer(text)):
            add(int(m.group(1)), int(m.group(2)), "action", m.group(0))
            text = _mask(text, m.start(), m.end())
    for m in _LIST.finditer(text):
        for item in _LIST_ITEM.finditer(m.group(1)):
            a = int(item.group(1))
            add(a, int(item.group(2)) if item.group(2) else a, "span", item.group(0))
    return Grounding(windows=tuple(PredWindow(a, b, k) for a, b, k in windows),
                     boxes=tuple(boxes), invalid=tuple(invalid))


# --- ground truth ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroundTruth:
    """A question's annotations on its sampled frames.

    ``windows``: (action label, window in sampled ids) of every annotated action that overlaps
    the sampled span. ``boxes``: per sampled id that has an annotated key frame nearby, the
    (class name, box) pairs of that key frame (an empty tuple: annotated, nothing scored there).
    """

    windows: tuple[tuple[str, Window], ...]
    boxes: Mapping[int, tuple[tuple[str, BoxTuple], ...]]


def sample_source_indices(sample: QASample, num_frames: int, fps: float, n: int = NUM_FRAMES) -> list[int]:
    """The source frames the agent and the students sample for ``sample`` (as ``data.video.sample_video``
    does for its [start, end] window), from the video's frame count and fps alone."""
    lo, hi = window_to_frames(sample.start, sample.end, fps, num_frames)
    return sample_indices(num_frames, n, lo, hi)


def load_video_meta(world_dir: str | Path) -> dict[str, dict[str, Any]]:
    """A world's ``annotations/videos.json``: per video ``fps``, ``num_frames`` and ``actions``
    as [action id, start_s, end_s) triples."""
    return dict(json.loads((Path(world_dir) / "annotations" / "videos.json").read_text()))


def _label(aid: str, classes: StarClasses) -> str:
    if aid not in classes.action_map:
        return aid
    return f"{classes.action_verb(aid)} {classes.action_object(aid)}"


def _situation_windows(situations: list[Situation], source: Sequence[int],
                       classes: StarClasses) -> list[tuple[str, Window]]:
    """Runs of consecutive key frames where an action is annotated, as sampled-id windows."""
    runs: list[tuple[str, int, int]] = []
    open_runs: dict[str, int] = {}  # action id -> index in runs of its run still going
    for sit in situations:
        for aid in sit.actions:
            if aid in open_runs:
                k = open_runs[aid]
                runs[k] = (aid, runs[k][1], sit.frame)
            else:
                open_runs[aid] = len(runs)
                runs.append((aid, sit.frame, sit.frame))
        for aid in [a for a in open_runs if a not in sit.actions]:
            del open_runs[aid]
    return [(_label(aid, classes), ids_window(source, first, last)) for aid, first, last in runs]


def ground_truth(sample: QASample, source_indices: Sequence[int], fps: float, classes: StarClasses, *,
                 video_actions: Iterable[Sequence[Any]] | None = None, max_gap: int = 2,
                 exclude: frozenset[str] = UNSCORED) -> GroundTruth:
    """The ground truth of ``sample`` on its sampled frames (``source_indices[i]`` is id i).

    Windows come from ``video_actions`` ([action id, start_s, end_s) in seconds, as in the world's
    ``videos.json`` or Charades) when given, else from the runs of key frames whose situation lists
    the action; either way only actions that overlap the sampled span, mapped onto ids by
    ``select.actions`` (the ids inside, or the nearest one). Boxes: each id takes the situation of
    the nearest key frame within ``max_gap`` source frames; classes in ``exclude`` (person and
    table by default, as step 1's detection score) are left out.
    """
    source = [int(s) for s in source_indices]
    if not source:
        raise ValueError("ground_truth needs the sampled source frames")
    lo, hi = min(source), max(source)
    keyframes = sorted((s for s in (sample.situations or {}).values()), key=lambda s: s.frame)
    if video_actions is not None:
        windows = []
        for aid, start_s, end_s, *_ in video_actions:
            first, last = action_frames(float(start_s), float(end_s), fps)
            if last >= lo and first <= hi:
                windows.append((_label(str(aid), classes), ids_window(source, max(first, lo), min(last, hi))))
    else:
        windows = _situation_windows([s for s in keyframes if lo <= s.frame <= hi], source, classes)
    boxes: dict[int, tuple[tuple[str, BoxTuple], ...]] = {}
    for fid, src in enumerate(source):
        near = min(keyframes, key=lambda s: abs(s.frame - src), default=None)
        if near is not None and abs(near.frame - src) <= max_gap:
            boxes[fid] = tuple((name, box) for name, box in situation_boxes(near, classes) if name not in exclude)
    return GroundTruth(windows=tuple(sorted(windows, key=lambda w: (w[1].start, w[1].end, w[0]))), boxes=boxes)


# --- scores ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemporalScore:
    """Each predicted window's best IoU with an annotated window, and how many annotated windows
    some prediction found at IoU >= 0.5."""

    ious: tuple[float, ...]
    gt: int
    gt_found: int

    @property
    def mean_iou(self) -> float:
        return sum(self.ious) / len(self.ious) if self.ious else 0.0

    @property
    def recall_at_05(self) -> float:
        """Share of predicted windows with IoU >= 0.5 (step 1's grounding recall, per stated window)."""
        return sum(i >= 0.5 for i in self.ious) / len(self.ious) if self.ious else 0.0


def temporal_scores(predicted: Sequence[Window], truth: Sequence[Window]) -> TemporalScore:
    """Best-match temporal IoU (inclusive frame ids, ``Window.iou``) of each predicted window;
    0 for every prediction when there is no annotated window."""
    ious = tuple(max((p.iou(t) for t in truth), default=0.0) for p in predicted)
    found = sum(any(p.iou(t) >= 0.5 for p in predicted) for t in truth)
    return TemporalScore(ious=ious, gt=len(truth), gt_found=found)


@dataclass(frozen=True)
class BoxScore:
    """Each located box's best IoU with an annotated box of its frame. Boxes without a frame
    (``frameless``) or in a frame with no annotated key frame nearby (``unannotated``) are not
    scored, only counted."""

    ious: tuple[float, ...]
    frameless: int = 0
    unannotated: int = 0

    @property
    def mean_iou(self) -> float:
        return sum(self.ious) / len(self.ious) if self.ious else 0.0


def box_scores(predicted: Sequence[PredBox],
               truth: Mapping[int, Sequence[tuple[str, BoxTuple]] | Sequence[BoxTuple]]) -> BoxScore:
    """Best-match box IoU (``select.detection.box_iou``) of each predicted box against the
    annotated boxes of the same sampled frame; 0 when that frame is annotated but has no box.
    ``truth`` maps ids to (label, box) pairs (``GroundTruth.boxes``) or to bare boxes."""
    ious: list[float] = []
    frameless = unannotated = 0
    for p in predicted:
        if p.frame is None:
            frameless += 1
        elif p.frame not in truth:
            unannotated += 1
        else:
            gt = [b[1] if len(b) == 2 else b for b in truth[p.frame]]
            ious.append(max((box_iou(p.box, tuple(b)) for b in gt), default=0.0))  # type: ignore[arg-type]
    return BoxScore(ious=tuple(ious), frameless=frameless, unannotated=unannotated)


@dataclass(frozen=True)
class GroundingScore:
    temporal: TemporalScore
    spatial: BoxScore
    invalid: int = 0


def score_grounding(grounding: Grounding, truth: GroundTruth, *, windows: Literal["action", "all"] = "action",
                    ) -> GroundingScore:
    """One rationale's scores. ``windows="action"`` (default) scores only "from frame A to frame B"
    windows, where the rationale says an action happens; "all" adds frame ranges and single frames."""
    predicted = grounding.action_windows() if windows == "action" else grounding.all_windows()
    return GroundingScore(temporal=temporal_scores(predicted, [w for _, w in truth.windows]),
                          spatial=box_scores(grounding.boxes, truth.boxes), invalid=len(grounding.invalid))


def grounding_summary(scores: Iterable[GroundingScore]) -> dict[str, Any]:
    """Table 7's numbers over rationales, micro-averaged over stated windows and boxes.

    ``temporal_iou`` / ``recall_at_0.5`` over every predicted window, ``spatial_iou`` over every
    scored box (None when there was nothing to score: a model that grounds nothing gets "✗",
    not 0), plus how many rationales stated any window or box and what could not be scored.
    """
    scores = list(scores)
    ious = [i for s in scores for i in s.temporal.ious]
    boxes = [i for s in scores for i in s.spatial.ious]
    gt = sum(s.temporal.gt for s in scores)
    return {
        "rationales": len(scores),
        "with_windows": sum(bool(s.temporal.ious) for s in scores),
        "with_boxes": sum(bool(s.spatial.ious) or bool(s.spatial.frameless) or bool(s.spatial.unannotated)
                          for s in scores),
        "windows": len(ious),
        "temporal_iou": sum(ious) / len(ious) if ious else None,
        "recall_at_0.5": sum(i >= 0.5 for i in ious) / len(ious) if ious else None,
        "gt_windows": gt,
        "gt_found_at_0.5": sum(s.temporal.gt_found for s in scores) / gt if gt else None,
        "boxes": len(boxes),
        "spatial_iou": sum(boxes) / len(boxes) if boxes else None,
        "frameless_boxes": sum(s.spatial.frameless for s in scores),
        "unannotated_boxes": sum(s.spatial.unannotated for s in scores),
        "invalid": sum(s.invalid for s in scores),
    }
