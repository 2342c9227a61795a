"""Loaders for published VideoQA annotation formats, all mapped onto ``QASample``.

``load_dataset(fmt, path)`` is the one entry point; ``FORMATS`` lists what it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aotd.data.schema import Dataset, QASample
from aotd.errors import AotdError

from . import (
    activitynet_qa,
    agqa,
    anetqa,
    jsonl,
    mvbench,
    nextqa,
    perception_test,
    star,
    videochatgpt,
    videomme,
    vsibench,
)
from ._common import split_key

_LOADERS: dict[str, Callable[..., list[QASample]]] = {
    "star": star.load,
    "nextqa": nextqa.load_mc,
    "nextqa-oe": nextqa.load_oe,
    "agqa": agqa.load,
    "anetqa": anetqa.load,
    "jsonl": jsonl.load,
    # evaluation benchmarks
    "mvbench": mvbench.load,
    "videomme": videomme.load,
    "perception-test": perception_test.load,
    "vsibench": vsibench.load,
    "activitynet-qa": activitynet_qa.load,
    "videochatgpt": videochatgpt.load,
}

FORMATS: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(
    fmt: str,
    path: str | Path,
    *,
    split: str | None = None,
    classes_dir: str | Path | None = None,
    video_root: str | Path | None = None,
) -> Dataset:
    """Load ``path`` (a file, or a folder holding a format's split files) as one ``Dataset``.

    ``split`` keeps one split; ``video_root`` is where the videos are (default: a ``videos/``
    folder beside or above the annotations, or where a benchmark's own layout puts them);
    ``classes_dir`` holds STAR's class files.
    """
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise AotdError(f"unknown dataset format {fmt!r}; known formats: {', '.join(FORMATS)}")
    options: dict[str, object] = {"split": split, "video_root": _path(video_root)}
    if fmt == "star":
        options["classes_dir"] = _path(classes_dir)
    elif classes_dir is not None:
        raise AotdError(f"class files are only read by the star format, not {fmt}")
    source = Path(path)
    return Dataset(name=fmt, format=fmt, source=source, samples=loader(source, **options))


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


__all__ = ["FORMATS", "load_dataset", "split_key"]
