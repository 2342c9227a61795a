"""The sampled frames of a sample, as small JPEG thumbnails beside its page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from aotd.data.schema import NUM_FRAMES, QASample
from aotd.data.video import sample_video

THUMB_WIDTH = 256  # pixels; frames narrower than this are kept as they are
JPEG_QUALITY = 80


@dataclass
class Frames:
    """What a page shows of the video: thumbnails (relative to the page) or why there are none."""

    count: int = NUM_FRAMES
    files: list[str] = field(default_factory=list)  # one per frame id, relative to the page
    width: int = 0  # the frames' own size: box coordinates are in these pixels
    height: int = 0
    source: list[int] = field(default_factory=list)  # source frame index of each id
    note: str | None = None  # why the frames are unavailable, or what is odd about them

    @property
    def available(self) -> bool:
        return bool(self.files)


def load_frames(sample: QASample | None, folder: Path, rel: str, *, expected: list[int] | None = None,
                missing: str | None = None) -> Frames:
    """Sample the 32 frames of ``sample`` and write them to ``folder`` as NN.jpg.

    Never raises for a problem of this sample: an unknown sample, a video without a file or one
    that cannot be decoded gives ``Frames`` with a ``note`` instead. ``expected`` are the source
    indices the trace saw; a difference is noted (the video changed since the trace was made).
    """
    count = len(expected) if expected else NUM_FRAMES
    if sample is None:
        return Frames(count=count, note=missing or "the sample is not in the dataset")
    if sample.video.path is None:
        return Frames(count=count, note=f"video {sample.video.video_id} has no file (pass --video-root)")
    try:
        sampled = sample_video(sample.video.path, start_s=sample.start, end_s=sample.end)
    except Exception as exc:  # noqa: BLE001 - any decoding problem of one video only costs its thumbnails
        return Frames(count=count, note=f"{type(exc).__name__}: {exc}")
    frames = np.asarray(sampled.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        return Frames(count=count, note=f"unexpected frame array of shape {frames.shape}")
    folder.mkdir(parents=True, exist_ok=True)
    height, width = int(frames.shape[1]), int(frames.shape[2])
    files = []
    for i, frame in enumerate(frames):
        name = f"{i:02d}.jpg"
        thumbnail(frame).save(folder / name, format="JPEG", quality=JPEG_QUALITY)
        files.append(f"{rel}/{name}")
    note = None
    if expected and list(sampled.source_indices) != list(expected):
        note = "these frames differ from the ones the trace saw (the video or its window changed since)"
    return Frames(count=len(files), files=files, width=width, height=height, source=list(sampled.source_indices),
                  note=note)


def thumbnail(frame: np.ndarray) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    if image.width > THUMB_WIDTH:
        height = max(1, round(image.height * THUMB_WIDTH / image.width))
        image = image.resize((THUMB_WIDTH, height), Image.Resampling.BICUBIC)
    return image
