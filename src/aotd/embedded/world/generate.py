"""Generate an embedded world: videos plus annotations in STAR's own schema.

Layout written under ``out``::

    videos/<video_id>.mp4
    annotations/STAR_{train,val,test}.json    STAR question records
    annotations/classes/*.txt                 STAR class files for the world's vocabulary
    annotations/videos.json                   per video: split, fps, size, action windows
    annotations/OE_{split}.jsonl              open-ended questions (with --open-ended)
    world.json                                manifest, written last: the completion marker

Every video is an independent function of (seed, index), so videos are generated in
parallel and the annotations are the same byte for byte for the same seed and noise.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from aotd.data.schema import ProgramStep, QASample, VideoInfo
from aotd.data.video import write_video
from aotd.embedded.world.annotate import situation
from aotd.embedded.world.balance import Pick, balance
from aotd.embedded.world.questions import (
    TEMPLATES,
    Context,
    Question,
    candidates,
    choice_program,
    choice_text,
    open_answer,
)
from aotd.embedded.world.render import Noise, Renderer
from aotd.embedded.world.simulate import FPS, HEIGHT, WIDTH, simulate
from aotd.embedded.world.vocab import world_classes
from aotd.errors import AotdError

FORMAT_VERSION = 2  # 2: options balanced over the pool, text-count check, apple and banana
SPLITS = (("train", 0.7), ("val", 0.15), ("test", 0.15))


@dataclass(frozen=True)
class WorldConfig:
    out: Path
    videos: int
    seed: int = 0
    noise: float = 0.5
    questions_per_video: int = 12
    max_text_p: float = 0.4  # reject a question whose answer a text-only count gives a higher probability
    open_ended: bool = False
    workers: int = 1
    test_share: float = 0.15  # of the videos; val takes 0.15, train the rest (a larger test split: more power)

    @property
    def shares(self) -> tuple[tuple[str, float], ...]:
        return (("train", 0.85 - self.test_share), ("val", 0.15), ("test", self.test_share))

    def validate(self) -> None:
        if self.videos < 1:
            raise AotdError(f"--videos must be at least 1, got {self.videos}")
        if not 0.0 <= self.noise <= 1.0:
            raise AotdError(f"--noise must be in [0, 1] or one of none/low/medium/high, got {self.noise}")
        if self.questions_per_video < 1:
            raise AotdError("--questions-per-video must be at least 1")
        if not 0.05 <= self.test_share <= 0.5:
            raise AotdError(f"--test-share must be in [0.05, 0.5], got {self.test_share}")
        if not 0.25 < self.max_text_p <= 1.0:
            raise AotdError(f"max_text_p must be in (0.25, 1] (chance is 0.25 with four options), got {self.max_text_p}")


@dataclass
class VideoResult:
    index: int
    video_id: str
    split: str
    num_frames: int
    actions: list[list[Any]]
    candidates: list[Question]  # every question the templates can ask; the pool keeps some
    situations: dict[int, dict[str, Any]]  # STAR situation of every key frame


def video_id_for(seed: int, index: int) -> str:
    """A Charades-like 5-character id, stable for (seed, index); the index keeps it unique."""
    digest = hashlib.sha1(f"aotd-world:{seed}:{index}".encode()).hexdigest().upper()
    return f"{digest[:2]}{index:03d}"


def split_for(seed: int, index: int, shares: tuple[tuple[str, float], ...] = SPLITS) -> str:
    r = np.random.default_rng([seed, index, 7]).random()
    acc = 0.0
    for name, share in shares:
        acc += share
        if r < acc:
            return name
    return SPLITS[-1][0]


def _question_record(pick: Pick, video_id: str, sit: dict[int, dict[str, Any]]) -> dict[str, Any]:
    q = pick.question
    options = [q.answer, *q.distractors]
    choices = []
    for cid, k in enumerate(pick.order):
        value = options[k]
        choices.append({"choice_id": cid, "choice": choice_text(q.kind, value), "choice_program": choice_program(q.kind, value)})
    frames = [k for k in sit if q.window[0] <= k <= q.window[1]]
    if q.extra_frames is not None:
        frames += [k for k in sit if q.extra_frames[0] <= k <= q.extra_frames[1]]
    return {
        "template": f"{q.family}_T{q.template}",
        "question": q.text,
        "video_id": video_id,
        "start": round(q.window[0] / FPS, 2),
        "end": round(q.window[1] / FPS, 2),
        "answer": choice_text(q.kind, q.answer),
        "question_program": q.program,
        "choices": choices,
        "situations": {f"{k:06d}": sit[k] for k in sorted(frames)},
        "open_ended_answer": open_answer(q.kind, q.answer),
    }


def build_video(seed: int, index: int, noise_level: float, videos_dir: Path) -> VideoResult:
    """Simulate, render and write one video; return its situations and candidate questions."""
    rng = np.random.default_rng([seed, index])
    noise = Noise.from_level(noise_level)
    episode = simulate(rng, noise.color_jitter)
    renderer = Renderer(episode, noise, np.random.default_rng([seed, index, 1]))
    keyframes = set(episode.keyframes())
    visible: list[set[str]] = []
    sit: dict[int, dict[str, Any]] = {}

    def frames():
        for state in episode.frames:
            pixels, boxes = renderer.frame(state)
            visible.append({n for n in boxes if not n.startswith("table#")})
            if state.index in keyframes:
                s = situation(state, boxes)
                sit[state.index] = {"rel_pairs": s.rel_pairs, "rel_labels": s.rel_labels, "actions": s.actions,
                                    "bbox": s.bbox, "bbox_labels": s.bbox_labels}
            yield pixels

    vid = video_id_for(seed, index)
    write_video(videos_dir / f"{vid}.mp4", frames(), FPS)
    qrng = np.random.default_rng([seed, index, 2])
    ctx = Context(episode, visible, qrng)
    actions = [[e.aid, *e.seconds()] for e in episode.events]
    return VideoResult(index, vid, split_for(seed, index), episode.num_frames, actions, candidates(ctx), sit)


def _work(args: tuple[int, int, float, str]) -> VideoResult:
    seed, index, noise, videos_dir = args
    return build_video(seed, index, noise, Path(videos_dir))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def generate_world(cfg: WorldConfig, *, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write a whole world under ``cfg.out`` and return its manifest."""
    cfg.validate()
    out = cfg.out
    manifest_path = out / "world.json"
    if manifest_path.exists() and not force:
        raise AotdError(f"{out} already holds a generated world; pass --force to replace it or choose another --out")
    if force and out.exists():
        for sub in ("videos", "annotations"):
            shutil.rmtree(out / sub, ignore_errors=True)
        manifest_path.unlink(missing_ok=True)
    videos_dir, ann_dir = out / "videos", out / "annotations"
    videos_dir.mkdir(parents=True, exist_ok=True)
    (ann_dir / "classes").mkdir(parents=True, exist_ok=True)

    jobs = [(cfg.seed, i, cfg.noise, str(videos_dir)) for i in range(cfg.videos)]
    bar = tqdm(total=cfg.videos, desc="world", unit="video", disable=not progress)
    results: list[VideoResult] = []
    if cfg.workers > 1:
        with mp.get_context("fork").Pool(cfg.workers) as pool:
            for r in pool.imap(_work, jobs, chunksize=4):
                results.append(r)
                bar.update()
    else:
        for job in jobs:
            results.append(_work(job))
            bar.update()
    bar.close()
    for r in results:
        r.split = split_for(cfg.seed, r.index, cfg.shares)

    # each split is balanced on its own: balancing the whole pool would make a feature's rate in one
    # split the complement of its rate in the others, and text learnt on train anti-predictive on test
    by_split: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SPLITS}
    balance_summary: dict[str, Any] = {}
    for k, (split, _) in enumerate(SPLITS):
        members = [r for r in results if r.split == split]
        picks, balance_summary[split] = balance([r.candidates for r in members], cfg.questions_per_video,
                                                np.random.default_rng([cfg.seed, 3, k]), list(TEMPLATES),
                                                max_text_p=cfg.max_text_p)
        for pick in picks:
            r = members[pick.video]
            by_split[split].append(_question_record(pick, r.video_id, r.situations))
    _assign_ids(by_split)

    world_classes().save(ann_dir / "classes")
    for split, records in by_split.items():
        _atomic_write(ann_dir / f"STAR_{split}.json", json.dumps(records, separators=(",", ":")))
        if cfg.open_ended and records:  # an empty JSONL is not a dataset
            lines = [open_ended_sample(rec, split, videos_dir).model_dump_json() for rec in records]
            _atomic_write(ann_dir / f"OE_{split}.jsonl", "".join(line + "\n" for line in lines))
    videos = {r.video_id: {"split": r.split, "fps": FPS, "num_frames": r.num_frames, "width": WIDTH,
                           "height": HEIGHT, "actions": r.actions} for r in results}
    _atomic_write(ann_dir / "videos.json", json.dumps(videos, separators=(",", ":")))
    manifest = {
        "generator": "aotd.world",
        "format_version": FORMAT_VERSION,
        "seed": cfg.seed,
        "noise": cfg.noise,
        "videos": cfg.videos,
        "fps": FPS,
        "size": [WIDTH, HEIGHT],
        "open_ended": cfg.open_ended,
        "splits": {s: sum(r.split == s for r in results) for s, _ in SPLITS},
        "split_shares": dict(cfg.shares),
        "questions": {s: len(v) for s, v in by_split.items()},
        "question_pool": balance_summary,
        "families": dict(sorted(Counter(rec["question_id"].split("_")[0] for v in by_split.values() for rec in v).items())),
    }
    _atomic_write(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _assign_ids(by_split: dict[str, list[dict[str, Any]]]) -> None:
    """STAR-style ids ``<Family>_T<k>_<n>``, one running number per template."""
    running: Counter[str] = Counter()
    for split, _ in SPLITS:
        records = by_split[split]
        for k, rec in enumerate(records):
            template = rec.pop("template")
            running[template] += 1
            records[k] = {"question_id": f"{template}_{running[template]}", **rec}


def open_ended_sample(rec: dict[str, Any], split: str, videos_dir: Path) -> QASample:
    """The open-ended twin of a STAR record: same question and window, no choices."""
    return QASample(
        sample_id=rec["question_id"],
        dataset="aotd-world-oe",
        split=split,
        video=VideoInfo(video_id=rec["video_id"], path=videos_dir / f"{rec['video_id']}.mp4", fps=FPS, width=WIDTH, height=HEIGHT),
        question=rec["question"],
        answer=rec["open_ended_answer"],
        question_type=rec["question_id"].split("_")[0],
        template="_".join(rec["question_id"].split("_")[:2]),
        program=[ProgramStep(**p) for p in rec["question_program"]],
        start=rec["start"],
        end=rec["end"],
        open_ended=True,
    )

