"""What a loaded dataset holds, to check a load before spending GPU time on it.

``summarize`` returns plain counts (JSON-ready); ``format_summary`` lays them out as text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from aotd.data.loaders import split_key
from aotd.data.schema import Dataset

_NO_TYPE = "(none)"
_MISSING_SHOWN = 5


def summarize(ds: Dataset) -> dict[str, Any]:
    """Counts by split and type, answer kinds, labels, videos, and video files missing on disk."""
    samples = ds.samples
    by_split_type: dict[str, Counter[str]] = {
        split: Counter() for split in sorted({s.split for s in samples}, key=split_key)
    }
    for s in samples:
        by_split_type[s.split][s.question_type or _NO_TYPE] += 1
    paths = {s.video.path for s in samples if s.video.path is not None}
    missing = sorted(str(p) for p in paths if not Path(p).is_file())
    multiple_choice = sum(s.is_multiple_choice for s in samples)
    labelled = sum(s.labelled for s in samples)
    return {
        "name": ds.name,
        "format": ds.format,
        "source": str(ds.source),
        "total": len(samples),
        "by_split": {split: sum(c.values()) for split, c in by_split_type.items()},
        "by_type": dict(sorted(Counter(s.question_type or _NO_TYPE for s in samples).items())),
        "by_split_type": {split: dict(sorted(c.items())) for split, c in by_split_type.items()},
        "multiple_choice": multiple_choice,
        "open_ended": len(samples) - multiple_choice,
        "labelled": labelled,
        "unlabelled": len(samples) - labelled,
        "videos": len({s.video.video_id for s in samples}),
        "video_files_known": len(paths),
        "video_files_missing": len(missing),
        "missing_videos": missing,
        "with_program": sum(s.program is not None for s in samples),
        "with_situations": sum(bool(s.situations) for s in samples),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text report: totals first, then a question type x split table."""
    lines = [
        f"{summary['name']} ({summary['format']}) from {summary['source']}",
        f"  samples          {summary['total']}",
        f"  multiple choice  {summary['multiple_choice']}   open-ended {summary['open_ended']}",
        f"  labelled         {summary['labelled']}   unlabelled {summary['unlabelled']}",
        f"  with program     {summary['with_program']}   with situations {summary['with_situations']}",
        f"  videos           {summary['videos']}   files known {summary['video_files_known']}"
        f"   missing on disk {summary['video_files_missing']}",
    ]
    missing = summary["missing_videos"]
    if missing:
        more = len(missing) - _MISSING_SHOWN
        lines += [f"    missing: {p}" for p in missing[:_MISSING_SHOWN]]
        lines += [f"    ... and {more} more"] if more > 0 else []
    return "\n".join([*lines, "", *_table(summary)])


def _table(summary: dict[str, Any]) -> list[str]:
    splits = list(summary["by_split"])
    header = ["question type", *splits, "total"]
    rows = [
        [t, *(str(summary["by_split_type"][s].get(t, 0)) for s in splits), str(n)]
        for t, n in summary["by_type"].items()
    ]
    rows.append(["total", *(str(summary["by_split"][s]) for s in splits), str(summary["total"])])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *rows]
    ]
