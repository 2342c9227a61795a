"""Scripted perception behind the real tool API, for running programs without models: a
scene of actions and visible objects, and perfect perception of a world sample from its
annotations (shared by the planner, rule planner and translation tests)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aotd.agent.sandbox import SandboxResult, run_in_process
from aotd.data.loaders import load_dataset
from aotd.data.sampling import SampledFrames, sample_indices, window_to_frames
from aotd.data.schema import QASample
from aotd.embedded.world.vocab import VERBS, world_classes
from aotd.tools.api import ToolAPI
from aotd.tools.clip import Clip
from aotd.tools.types import Action, Box, Window


@dataclass
class FakeModels:
    """Detector, grounder, recognizer and QA at once, answering from a scripted scene."""

    actions: list[Action] = field(default_factory=list)
    visible: dict[str, list[int]] = field(default_factory=dict)
    name: str = "fake"

    def detect(self, clip: Clip, query: str) -> list[Box]:
        return [Box(f, 10, 10, 40, 40, query, 0.9) for f in self.visible.get(query, []) if f in clip.ids]

    def ground(self, clip: Clip, query: str) -> Window | None:
        words = query.split()
        for a in self.actions:
            if a.window and a.verb in words and a.obj in words and a.window.start in clip.ids and a.window.end in clip.ids:
                return a.window
        return None

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        found = [a for a in self.actions if a.window and a.window.start in clip.ids and obj in (None, a.obj)]
        return sorted(found, key=lambda a: -a.score)

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        return choices[-1] if choices else "something"


def scene_for(objects: list[str], seed: int) -> FakeModels:
    """Six actions on ``objects`` at successive windows, every object visible throughout."""
    rng = random.Random(seed)
    acts = [Action(rng.choice(list(VERBS)), rng.choice(objects), round(rng.uniform(0.3, 1.0), 2), Window(5 * i, 5 * i + 3))
            for i in range(6)]
    return FakeModels(acts, {o: list(range(32)) for o in objects})


def oracle_for(sample: QASample, videos: dict[str, Any]) -> FakeModels:
    """Perfect perception of a world sample's 32 frames, from the annotations; QA answers blindly.

    Actions come from ``videos.json``, those wholly inside the window, mapped onto the sampled ids, visibility from the nearest
    annotated key frame. Prediction answers lie after the window, so they stay unseen.
    """
    info = videos[sample.video.video_id]
    fps, n = info["fps"], info["num_frames"]
    source = sample_indices(n, 32, *window_to_frames(sample.start, sample.end, fps, n))
    classes = world_classes()
    acts = []
    for aid, start_s, end_s in info["actions"]:
        if not source[0] <= (start_s + end_s) / 2 * fps <= source[-1]:
            continue  # the world's windows hold whole actions: one that only touches an edge is outside
        ids = [i for i, f in enumerate(source) if start_s * fps <= f <= end_s * fps]
        if ids:
            acts.append(Action(classes.action_verb(aid), classes.action_object(aid), 1.0, Window(min(ids), max(ids))))
    keys = [s for s in (sample.situations or {}).values() if source[0] <= s.frame <= source[-1]]
    visible: dict[str, list[int]] = {}
    for i, f in enumerate(source):
        nearest = min(keys, key=lambda s: abs(s.frame - f))
        for oid in nearest.bbox_labels:
            visible.setdefault(classes.object_name(oid), []).append(i)
    return FakeModels(acts, visible)


def accuracy_with_oracle(world_dir: Path, program_of: Any) -> dict[str, tuple[int, int]]:
    """(right, asked) per family, for the programs ``program_of(sample)`` over oracle perception."""
    videos = json.loads((world_dir / "annotations" / "videos.json").read_text())
    score: dict[str, list[int]] = {}
    for s in load_dataset("star", world_dir).samples:
        result = run(program_of(s), oracle_for(s, videos), s.question, s.choice_texts)
        tally = score.setdefault(s.question_type, [0, 0])
        tally[0] += result.ok and result.value == s.answer
        tally[1] += 1
    return {family: (right, asked) for family, (right, asked) in score.items()}


def video() -> Clip:
    return Clip(SampledFrames(np.zeros((32, 4, 4, 3), np.uint8), list(range(32)), 1.0), "fake")


def run(program: str, models: FakeModels, question: str, choices: list[str]) -> SandboxResult:
    api = ToolAPI(models, models, models, models)
    return run_in_process(program, tools=api.functions(), inputs={"video": video(), "question": question, "choices": choices})
