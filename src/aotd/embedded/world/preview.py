"""A picture of what a question sees: its sampled frames with the annotated boxes drawn.

Used for the README and for eyeballing a world after changing the renderer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from aotd.data.loaders import load_dataset
from aotd.data.loaders.star import star_classes
from aotd.data.schema import QASample
from aotd.data.video import sample_video
from aotd.errors import AotdError

SCALE = 2


def preview(data: Path, out: Path, *, question_id: str | None = None, frames: int = 6,
            questions: Sequence[QASample] | None = None) -> Path:
    """Draw a question of the STAR dataset ``data`` (the first, or ``question_id``) to ``out``;
    ``questions``: the dataset's questions when the caller has read them (a 200-video world takes
    ~9 s to read again)."""
    questions = load_dataset("star", data).samples if questions is None else questions
    samples = list(questions) if question_id is None else [s for s in questions if s.sample_id == question_id]
    if not samples:
        raise AotdError(f"{data}: no question with id {question_id!r}")
    sample = samples[0]
    classes = star_classes(data, required="expected annotations/classes/")
    if sample.video.path is None:
        raise AotdError(f"{data}: video {sample.video.video_id} not found")
    clip = sample_video(sample.video.path, start_s=sample.start, end_s=sample.end)
    situations = sorted((sample.situations or {}).values(), key=lambda s: s.frame)
    ids = np.linspace(0, len(clip) - 1, frames).round().astype(int)
    tiles = []
    for fid in ids:
        src = clip.source_frame(int(fid))
        img = Image.fromarray(clip.frames[fid]).resize((clip.width * SCALE, clip.height * SCALE), Image.NEAREST)
        d = ImageDraw.Draw(img)
        near = min(situations, key=lambda s: abs(s.frame - src)) if situations else None
        if near is not None and abs(near.frame - src) <= 1:
            for box, label in zip(near.bbox, near.bbox_labels):
                x1, y1, x2, y2 = (v * SCALE for v in box)
                d.rectangle([x1, y1, x2, y2], outline=(255, 40, 40), width=2)
                d.text((x1 + 2, max(0, y1 - 11)), classes.object_name(label), fill=(255, 255, 0))
            acts = ", ".join(classes.actions.get(a, a) for a in near.actions) or "-"
        else:
            acts = "(no key frame here)"
        d.rectangle([0, 0, img.width, 14], fill=(0, 0, 0))
        boxes_from = "" if near is None or near.frame == src else f", boxes of key frame {near.frame}"
        d.text((3, 1), f"frame id {fid} (source {src}{boxes_from}): {acts}", fill=(255, 255, 255))
        tiles.append(img)
    cols = min(3, len(tiles))
    rows = -(-len(tiles) // cols)
    w, h = tiles[0].size
    sheet = Image.new("RGB", (cols * w, rows * h + 36), (20, 20, 20))
    ImageDraw.Draw(sheet).text((6, 4), f"{sample.sample_id}: {sample.question}", fill=(255, 255, 255))
    ImageDraw.Draw(sheet).text((6, 20), f"answer: {sample.answer}   window {sample.start}s-{sample.end}s", fill=(200, 255, 200))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * w, 36 + (k // cols) * h))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
