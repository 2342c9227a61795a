"""Step 1's per-question scoring as a runner stage: resumable, sharded, parallel like step 2.

Each question gets one ``data.records.AnswerScore``: whether each planner's program, run on oracle
perception, and each QA candidate answered it right. Perception (detection, grounding,
recognition) is scored per video in the calling process; questions are the part that grows with
the dataset, so they are what ``RunOptions`` spreads and resumes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import aotd
from aotd.config import PlannerConfig, ToolChoice
from aotd.data.loaders.star import class_folder
from aotd.data.records import AnswerScore
from aotd.data.schema import QASample
from aotd.data.star_classes import StarClasses
from aotd.data.video import FrameCache
from aotd.tools.api import ToolAPI
from aotd.tools.oracle import OracleTools

PRIOR_ROW = "prior (text only)"  # the text prior's QA row: shown for reference, never chosen


class AnswerStage:
    """Runs every planner (on oracle perception) and every QA candidate on one question.

    Built from configs so it can travel to workers: planners and tools are made in ``setup``.
    A planner's QA tool is not the oracle (an oracle QA would answer the whole question and reward
    a plan that does not decompose it) but ``prior``, the text prior, which knows no more than the text.
    The prior is also scored as a QA row of its own (``PRIOR_ROW``), for reference.
    """

    name = "select"

    def __init__(self, planners: dict[str, PlannerConfig], qa: tuple[str, ...], tools: ToolChoice,
                 classes: StarClasses, prior: Any, *, cache_dir: Path | None = None, dataset: str = "") -> None:
        self.planner_configs, self.qa_names, self.tools, self.classes, self.prior = planners, qa, tools, classes, prior
        self.cache_dir = cache_dir
        # what the verdicts depend on, wherever the run happens: shards run from other folders or
        # machines must agree, so the label list counts by its contents, not its path; ``dataset``
        # (the questions and labels scored) keeps a regenerated dataset from reusing old verdicts
        choice = tools.model_dump() | {"labels": _contents_digest(tools.labels)}
        described = {"planners": {k: v.model_dump() for k, v in planners.items()}, "qa": list(qa),
                     "tools": choice, "dataset": dataset}
        self.fingerprint = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]
        self._planners: dict[str, Any] | None = None
        self._qas: dict[str, Any] = {}
        self._frames: FrameCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_planners": None, "_qas": {}, "_frames": None}

    @property
    def scored(self) -> list[str]:
        """The rows its records hold a verdict for: each planner, each QA candidate, the prior."""
        return [*self.planner_configs, *self.qa_names, PRIOR_ROW]

    def key(self, sample: QASample) -> str:
        return sample.sample_id

    def group(self, sample: QASample) -> str:
        """A video's questions go to one worker in a row: its frames are decoded once."""
        return str(sample.video.path or sample.video.video_id)

    def setup(self) -> None:
        from aotd.agent.build import build_planner
        from aotd.tools import registry

        llm_cache = None if self.cache_dir is None else self.cache_dir / "llm"
        self._planners = {name: build_planner(cfg, llm_cache) for name, cfg in self.planner_configs.items()}
        self._qas = {name: registry.qa_model(name, detection=self.tools.detection, recognition=self.tools.recognition,
                                             choice=self.tools) for name in self.qa_names}
        self._qas[PRIOR_ROW] = self.prior
        self._frames = FrameCache()

    def _oracle(self, sample: QASample, clip: Any) -> ToolAPI:
        o = OracleTools(sample, self.classes, clip.sampled.source_indices)
        return ToolAPI(o, o, o, self.prior)

    def process(self, sample: QASample) -> tuple[str, dict[str, float]]:
        from aotd.agent.run import load_clip, run_sample

        assert self._planners is not None, "setup() first"
        clip = load_clip(sample, self._frames)
        correct = {name: bool(run_sample(sample, planner, self._oracle, isolate=False, cache=self._frames).correct)
                   for name, planner in self._planners.items()}
        for name, qa in self._qas.items():
            correct[name] = qa.answer(clip, sample.question, sample.choice_texts) == sample.answer
        return self._record(sample, correct=correct).model_dump_json(), {}

    def failed(self, sample: QASample, reason: str) -> str:
        return self._record(sample, failure="crash", error=reason).model_dump_json()

    def _record(self, sample: QASample, **fields: Any) -> AnswerScore:
        return AnswerScore(sample_id=sample.sample_id, **fields,
                           provenance={"aotd": aotd.__version__, "config": self.fingerprint, "stage": self.name})


def questions_digest(samples: list[QASample]) -> str:
    """A digest of the questions and labels step 1 scores, for ``AnswerStage``'s fingerprint."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: s.sample_id):
        h.update(json.dumps([s.sample_id, s.question, s.choice_texts, s.answer]).encode())
    return h.hexdigest()[:12]


def _contents_digest(path: str | None) -> str | None:
    """A label list's contents: a text file's, or the class files' of a folder (or of the class
    folder it holds); the value itself when it names nothing here."""
    if path is None or not Path(path).exists():
        return path
    if Path(path).is_dir():
        folder = class_folder(path) or Path(path)
        files = sorted(folder.glob("*.txt"))
    else:
        files = [Path(path)]
    h = hashlib.sha256()
    for file in files:
        h.update(file.name.encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:12]
