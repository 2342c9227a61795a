"""MVBench (OpenGVLab/MVBench): 20 temporal tasks, one ``json/<task>.json`` file each.

A task file is a JSON list of ``{"video", "question", "candidates", "answer"}``; ``answer`` is
the right candidate's text, found as MVBench's own evaluation finds it (``candidates.index``:
the first equal candidate). The tasks cut from longer videos (action_sequence,
action_prediction, object_interaction, action_localization, episodic_reasoning) add
``start``/``end`` in seconds. The task (the file stem) is the question type; the files carry no
ids, so a question is named ``<task>_<position>``. Candidates written as numbers are read as
their text.

Videos sit in one folder per source dataset (``star/Charades_v1_480/``, ``clevrer/video_validation/``,
...), chosen by task as in MVBench's ``data_list``; ``video`` is the file name with its
extension (episodic_reasoning names a folder of TVQA frames instead). A task not in that list is
looked up directly in the video folder, by default ``video/`` (as the Hugging Face repository
has it) or ``videos/`` beside or above ``json/``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from aotd.data.schema import QASample

from ._bench import bench_files, bench_video_folder, single_split
from ._common import VIDEO_EXTS, Collector, Where, extra_fields, get, make_sample, read_json_of

_FILE = re.compile(r"^\w+\.json$")
_KNOWN = {"video", "question", "candidates", "answer", "start", "end"}

# task -> folder under the video root (MVBench's data_list)
VIDEO_PREFIXES: dict[str, str] = {
    "action_sequence": "star/Charades_v1_480",
    "action_prediction": "star/Charades_v1_480",
    "action_antonym": "ssv2_video",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "unexpected_action": "FunQA_test/test",
    "object_existence": "clevrer/video_validation",
    "object_interaction": "star/Charades_v1_480",
    "object_shuffle": "perception/videos",
    "moving_direction": "clevrer/video_validation",
    "action_localization": "sta/sta_video",
    "scene_transition": "scene_qa/video",
    "action_count": "perception/videos",
    "moving_count": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation",
    "state_change": "perception/videos",
    "fine_grained_pose": "nturgbd",
    "character_order": "perception/videos",
    "egocentric_navigation": "vlnqa",
    "episodic_reasoning": "tvqa/frames_fps3_hq",
    "counterfactual_inference": "clevrer/video_validation",
}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path``: one task file, or the folder of them (or its ``json/``)."""
    files = bench_files(path, _FILE, subdirs=("json",), example="json/action_sequence.json")
    the_split = single_split(path, split, "MVBench")
    videos = bench_video_folder(files[0].parent, video_root, ("video",))
    collector = Collector()
    for file in files:
        task = file.stem
        records = read_json_of(file, list, "a JSON list of questions")
        for index, record in enumerate(records):
            where = Where(file, f"[{index}]")
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            data = _sample(record, f"{task}_{index}", task, the_split, videos, where)
            collector.add(make_sample(data, where), where, "task")
    return collector.finish(path)


def _sample(
    record: dict[str, Any], sample_id: str, task: str, split: str, videos: Path | None, where: Where
) -> dict[str, Any]:
    video = get(record, "video", "text", where)
    candidates = _candidates(record, where)
    answer = _text(record.get("answer"), where, "answer", optional=True)
    index = None
    if answer is not None:
        if answer not in candidates:
            raise where.error(f"answer {answer!r} matches none of the candidates", field="answer")
        index = candidates.index(answer)
    folder = None if videos is None else videos / VIDEO_PREFIXES.get(task, "")
    return {
        "sample_id": sample_id,
        "dataset": "mvbench",
        "split": split,
        "video": {"video_id": _video_id(video), "path": None if folder is None else folder / video},
        "question": get(record, "question", "text", where),
        "choices": [{"choice_id": k, "text": text} for k, text in enumerate(candidates)],
        "answer": answer,
        "answer_index": index,
        "question_type": task,
        "start": get(record, "start", "number", where, optional=True),
        "end": get(record, "end", "number", where, optional=True),
        "extra": extra_fields(record, _KNOWN),
    }


def _candidates(record: dict[str, Any], where: Where) -> list[str]:
    raw = get(record, "candidates", "list", where)
    if not raw:
        raise where.error("is empty; an MVBench question has candidates", field="candidates")
    return [_text(c, where, f"candidates[{k}]") for k, c in enumerate(raw)]


def _text(value: Any, where: Where, field: str, *, optional: bool = False) -> Any:
    """A non-empty string, or a number taken as its text (some candidates are counts)."""
    if value is None and optional:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"should be a non-empty string, got {value!r}", field=field)
    return value


def _video_id(video: str) -> str:
    """The video name without a video extension (a frame folder's name stays whole)."""
    name = PurePosixPath(video)
    return str(name.with_suffix("")) if name.suffix.lower() in VIDEO_EXTS else video
