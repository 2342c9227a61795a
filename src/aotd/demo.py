"""``aotd demo``: the whole method on the embedded world, then a report.

World -> step 1 (Table 1) -> step 2 on every train question -> step 3 (Table 2) -> training sets
from the same labels (Instruct: answers only; AoTD: answers + verified CoTs; unfiltered: answers
+ as many unverified CoTs) -> a student of each per seed, plus controls (shuffled rationales,
blind students) and, at ``--size full``, a data-size curve and a λ sweep; every student's
training length chosen on the val split by one rule -> every student and the agent on the
held-out test split (Tables 4/6 in miniature), rationale grounding (Table 7) and cost -> the
report. Every stage writes its files under ``out`` and is skipped when they exist, so a killed
demo started again continues where it stopped. Students train (and are scored) ``workers`` at a
time, each in a process of its own with its share of the cores.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from aotd.errors import AotdError
from aotd.runner.lock import exclusive

VARIANTS = ("instruct", "aotd", "unfiltered")  # Instruct baseline, AoTD (verified CoTs), Table 6's "without filter"
# controls, one seed each: AoTD with each sample given another's rationale; both students trained
# and evaluated on black frames (how much text alone gets them)
CONTROLS = ("aotd-shuffled", "blind-instruct", "blind-aotd")
COT_FILTER = {"instruct": None, "aotd": "verified", "unfiltered": "none", "aotd-shuffled": "verified"}


@dataclass(frozen=True)
class DemoSize:
    videos: int
    select_questions: int  # train questions step 1 scores
    agent_questions: int | None  # train questions the agent answers (None: all)
    epochs: int  # at most: each student keeps its best epoch on val
    rationale_eval: int  # test questions whose generated rationales are scored for grounding
    test_share: float = 0.3  # of the videos: ~700 test questions at 200 videos (a paired difference's SE ~2 points)
    seeds: int = 2  # training seeds of every variant of the main comparison and the sweeps
    data_fractions: tuple[float, ...] = ()  # the data-size curve: Instruct and AoTD on these shares of the labels
    lambdas: tuple[float, ...] = ()  # the λ sweep: AoTD with these weights besides λ = 1
    compared: tuple[str, ...] = ("instruct", "aotd")  # trained with every seed; the other variants with the first


SIZES = {"tiny": DemoSize(videos=24, select_questions=20, agent_questions=40, epochs=1, rationale_eval=4, seeds=1),
         "small": DemoSize(videos=200, select_questions=200, agent_questions=None, epochs=4, rationale_eval=60),
         # an hour on two cores: 1.5x the small world's questions, 6 epochs, 33 students
         "full": DemoSize(videos=300, select_questions=400, agent_questions=None, epochs=6, rationale_eval=150,
                          seeds=3, data_fractions=(0.25, 0.5), lambdas=(0.0, 0.5, 2.0), compared=VARIANTS)}


@dataclass(frozen=True)
class Run:
    """One student the demo trains and evaluates: ``<variant>-seed<seed>``, trained on
    ``data/<data>.jsonl`` with weight ``lam`` on L_rationale, on black frames when ``blind``."""

    variant: str
    data: str
    seed: int
    lam: float = 1.0
    blind: bool = False

    @property
    def name(self) -> str:
        return f"{self.variant}-seed{self.seed}"


def fraction_tag(fraction: float) -> str:
    return f"data{round(100 * fraction)}"


def lambda_tag(lam: float) -> str:
    """0.5 -> "lambda0_5": variant names stay word characters (the report parses them)."""
    return "lambda" + f"{lam:g}".replace(".", "_")


def plan(spec: DemoSize, seeds: int, seed: int) -> list[Run]:
    """Every student of a demo, in training order: the compared variants per seed, the other
    variants and the controls (one seed), then the data-size curve and the λ sweep per seed."""
    runs = [Run(v, v, seed + k) for v in spec.compared for k in range(seeds)]
    runs += [Run(v, v, seed) for v in VARIANTS if v not in spec.compared]
    runs += [Run("aotd-shuffled", "aotd-shuffled", seed), Run("blind-instruct", "instruct", seed, blind=True),
             Run("blind-aotd", "aotd", seed, blind=True)]
    for fraction in spec.data_fractions:
        runs += [Run(f"{v}-{fraction_tag(fraction)}", f"{v}-{fraction_tag(fraction)}", seed + k)
                 for v in ("instruct", "aotd") for k in range(seeds)]
    for lam in spec.lambdas:
        runs += [Run(f"aotd-{lambda_tag(lam)}", "aotd", seed + k, lam=lam) for k in range(seeds)]
    return runs


def run_demo(out: Path, *, size: str = "small", seeds: int | None = None, seed: int = 0, workers: int = 2,
             log: Callable[[str], None] = print) -> Path:
    """Run (or continue) the demo in ``out``; returns the report folder."""
    if size not in SIZES:
        raise AotdError(f"--size {size!r}: expected one of {', '.join(SIZES)}")
    spec = SIZES[size]
    seeds = spec.seeds if seeds is None else seeds
    if seeds < 1:
        raise AotdError(f"--seeds must be at least 1, got {seeds}")
    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out / "demo", what=str(out)):  # a second demo on the same folder stops at once, naming this one
        return _run(out, spec, size, seeds, seed, workers, log)


def _run(out: Path, spec: DemoSize, size: str, seeds: int, seed: int, workers: int,
         log: Callable[[str], None]) -> Path:
    (out / "demo.json").write_text(json.dumps({"size": size, "seeds": seeds, "seed": seed, **spec.__dict__}, indent=2))
    clock = _Clock(log, out / "timings.json")
    world = _world(out, spec, seed, workers, clock)
    with _Features(world, workers) as features:
        cfg = _select(out, world, spec, clock)
        features.wait(clock)
    _agent_and_cot(out, world, cfg, spec, workers, clock)
    _build(out, world, spec, clock)
    runs = plan(spec, seeds, seed)
    _students(out, world, runs, spec, workers, clock)
    _evaluate(out, world, runs, spec, clock)
    _controls(out, world, clock)
    from aotd.pipeline import report as write_report

    clock.stage("report")
    report = write_report(out, out / "report")
    clock.done(f"report: {report / 'README.md'}, {report / 'index.html'} and {report / 'summary.json'}")
    clock.summary()
    return report


class _Clock:
    """Prints each stage's start and its duration, so progress is visible throughout."""

    def __init__(self, log: Callable[[str], None], path: Path) -> None:
        self.log, self.start, self.stage_start = log, time.perf_counter(), time.perf_counter()
        self.path, self.name = path, ""
        self.times: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}

    def stage(self, text: str) -> None:
        self.stage_start, self.name = time.perf_counter(), text
        self.log(f"\n== {text}  [{self._elapsed()}]")

    def done(self, text: str) -> None:
        took = time.perf_counter() - self.stage_start
        self.log(f"   {text}  ({took:.0f} s; total {self._elapsed()})")
        # where the time went, for the report; a resumed demo adds to what the first run spent
        self.times[self.name] = round(self.times.get(self.name, 0.0) + took, 1)
        self.path.write_text(json.dumps(self.times, indent=2) + "\n")

    def summary(self) -> None:
        """Where the time went, largest first (a resumed demo's stages include the earlier runs)."""
        total = sum(self.times.values()) or 1.0
        self.log(f"\n== where the time went: {total / 60:.1f} minutes")
        for name, seconds in sorted(self.times.items(), key=lambda kv: -kv[1]):
            self.log(f"   {seconds:7.0f} s  {100 * seconds / total:4.1f}%  {name}")

    def _elapsed(self) -> str:
        s = int(time.perf_counter() - self.start)
        return f"{s // 60}:{s % 60:02d}"


@functools.lru_cache(maxsize=1)
def _dataset(world: Path):  # noqa: ANN202 - Dataset, imported lazily
    """The world's questions, parsed once per process (a 200-video world's scene graphs take ~10 s
    to read and validate); the demo only reads them."""
    from aotd.data.loaders import load_dataset

    return load_dataset("star", world)


def _split(world: Path, split: str) -> list:
    return _dataset(world).by_split(split)


def _world(out: Path, spec: DemoSize, seed: int, workers: int, clock: _Clock) -> Path:
    from aotd.data.stats import format_summary, summarize
    from aotd.embedded.world.generate import WorldConfig, generate_world
    from aotd.embedded.world.preview import preview

    world = out / "world"
    clock.stage(f"world: {spec.videos} videos, seed {seed}")
    if not (world / "world.json").exists():
        generate_world(WorldConfig(out=world, videos=spec.videos, seed=seed, workers=max(1, workers), open_ended=True,
                                   test_share=spec.test_share))
    ds = _dataset(world)
    clock.log(format_summary(summarize(ds)))
    if not ds.by_split("test") or not ds.by_split("train"):
        raise AotdError(f"{world}: the world has no {'test' if ds.by_split('train') else 'train'} videos "
                        f"({spec.videos} videos, seed {seed}); pass another --seed or a larger --size")
    if not (out / "world.png").exists():
        preview(world, out / "world.png", questions=ds.samples)
    clock.done("world ready")
    return world


def _select(out: Path, world: Path, spec: DemoSize, clock: _Clock):  # noqa: ANN202 - Config, imported lazily
    from aotd.config import load_config
    from aotd.pipeline import select

    selected = out / "select" / "config.yaml"
    clock.stage(f"step 1: select tools on {spec.select_questions} train questions (Table 1)")
    if not selected.exists():
        select(load_config(None), world, out / "select", split="train", limit=spec.select_questions,
               dataset=_dataset(world))
    clock.log((out / "select" / "table1.md").read_text())
    clock.done(f"chosen config: {selected}")
    return load_config(selected)


def _agent_and_cot(out: Path, world: Path, cfg, spec: DemoSize, workers: int, clock: _Clock) -> None:  # noqa: ANN001
    from aotd.cot.stats import markdown
    from aotd.paths import cache_dir
    from aotd.pipeline import agent, cot
    from aotd.runner import RunOptions

    ds = _dataset(world)
    cached = RunOptions(workers=workers, cache=cache_dir() / "runs")
    train = ds.by_split("train")[: spec.agent_questions]
    clock.stage(f"step 2: the agent on {len(train)} train questions")
    _, summary = agent(cfg, train, out / "traces.jsonl", cached)
    clock.done(f"accuracy {summary.get('accuracy')}")
    test = ds.by_split("test")
    clock.stage(f"the agent on the {len(test)} test questions (for Table 4's agent row and the cost comparison)")
    # no tool-output cache here: the test run's latency and memory are the agent's real cost
    _, summary = agent(cfg, test, out / "agent_test.jsonl", RunOptions(workers=workers))
    clock.done(f"accuracy {summary.get('accuracy')}")
    clock.stage("step 3: rationales and two-step verification (Table 2)")
    _, table, _ = cot(out / "traces.jsonl", cfg, out / "cots.jsonl", RunOptions(cache=cached.cache))
    (out / "table2.json").write_text(json.dumps(table, indent=2) + "\n")
    clock.log(markdown(table))
    if not (out / "site" / "index.html").exists():
        from aotd.view import write_site

        write_site(out / "cots.jsonl", out / "site", data=world, limit=40)
    clock.done(f"viewer: {out / 'site' / 'index.html'}")


def _build(out: Path, world: Path, spec: DemoSize, clock: _Clock) -> None:
    from aotd.data.records import CotRecord, read_records
    from aotd.distill.build import summary
    from aotd.distill.export import read_train_records
    from aotd.pipeline import build

    clock.stage("step 4: training sets (Instruct, AoTD, unfiltered CoTs) from the same labels")
    samples = _split(world, "train")
    cots = read_records(out / "cots.jsonl", CotRecord)
    verified = None
    for variant in (*VARIANTS, "aotd-shuffled"):
        path = out / "data" / f"{variant}.jsonl"
        if not path.exists():
            f = COT_FILTER[variant]
            # the unfiltered set keeps as many rationales as the verified one: quality, not quantity
            build(samples, cots, path, cot_filter=f or "verified", no_cot=f is None, source=str(world),
                  max_rationales=verified if variant == "unfiltered" else None,
                  shuffle_rationales=variant == "aotd-shuffled")
        counts = summary(read_train_records(path))
        if variant == "aotd":
            verified = counts["rationale"]
        clock.log(f"   {variant:<13} {counts}")
    for fraction in spec.data_fractions:  # the same seeded subset of the labels for Instruct and AoTD
        ids = {s.sample_id for s in random.Random(0).sample(samples, round(fraction * len(samples)))}
        part = [s for s in samples if s.sample_id in ids]
        for variant, no_cot in (("instruct", True), ("aotd", False)):
            path = out / "data" / f"{variant}-{fraction_tag(fraction)}.jsonl"
            if not path.exists():
                build(part, [c for c in cots if c.sample_id in ids], path, no_cot=no_cot, source=str(world))
            clock.log(f"   {path.stem:<13} {summary(read_train_records(path))}")
    clock.done("training sets written")


def _pool(workers: int, jobs: int) -> tuple[ProcessPoolExecutor | None, int]:
    """``workers`` processes for ``jobs`` independent jobs, each with its share of the cores (the
    students are small: two one-thread trainings do ~1.4x the work of one on two threads), or
    None (run here) for one worker or one job."""
    n = min(workers, jobs)
    if n < 2:
        return None, 0
    threads = max(1, len(os.sched_getaffinity(0)) // n) if hasattr(os, "sched_getaffinity") else 1
    return _processes(n, threads), n


def _processes(n: int, threads: int) -> ProcessPoolExecutor:
    """``n`` spawned processes of ``threads`` torch threads each, that die with the demo."""
    return ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_init_job,
                               initargs=(os.getpid(), threads))


def _init_job(parent: int, threads: int) -> None:
    import torch

    from aotd.orphans import die_with_parent

    die_with_parent(parent)  # a killed demo leaves no trainer behind
    torch.set_num_threads(threads)


class _Features:
    """The students' vision-tower features of every question, computed once (split by video)
    before any student trains, so that every student and evaluation reads them. They need only
    the world, so with two or more workers they are computed beside step 1, in ``workers - 1``
    processes, a few videos per job; when step 1 ends, this process takes its share of the jobs
    not started yet."""

    VIDEOS_PER_JOB = 4

    def __init__(self, world: Path, workers: int) -> None:
        samples = [s for s in _dataset(world).samples if s.choice_texts]
        videos = sorted({s.video.path for s in samples})
        self.what = f"{len(samples)} questions on {len(videos)} videos"
        windows: dict[str, list[tuple[str, float | None, float | None]]] = {v: [] for v in videos}
        for s in samples:
            windows[s.video.path].append((s.video.path, s.start, s.end))
        k = self.VIDEOS_PER_JOB
        self.parts = [sum((windows[v] for v in videos[i : i + k]), []) for i in range(0, len(videos), k)]
        self.workers, self.pool = workers, None
        if workers > 1:
            self.pool = _processes(workers - 1, 1)
            self.jobs = [self.pool.submit(_features_job, part) for part in self.parts]

    def __enter__(self) -> _Features:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:  # step 1 failed: what has not started is dropped
            self.pool.shutdown(wait=False, cancel_futures=True)

    def wait(self, clock: _Clock) -> None:
        clock.stage(f"the students' tower features of {self.what}"
                    + (" (computed beside step 1: the wait for the rest)" if self.pool else ""))
        if self.pool is None:
            _features_job(sum(self.parts, []))
        else:
            # this process's share of the jobs not started (the last ones: the pool takes them in order)
            share = sum(not (job.running() or job.done()) for job in self.jobs) // self.workers
            mine: list[tuple[str, float | None, float | None]] = []
            for job, part in zip(reversed(self.jobs), reversed(self.parts)):
                if share == 0:
                    break
                if job.cancel():
                    mine += part
                    share -= 1
            _features_job(mine)
            for job in self.jobs:
                if not job.cancelled():
                    job.result()
            self.pool.shutdown()
        clock.done("features kept under $AOTD_CACHE/features")


def _features_job(windows: list[tuple[str, float | None, float | None]]) -> None:
    if not windows:
        return
    from aotd.config import DistillConfig
    from aotd.distill.students import build_student

    student = build_student(DistillConfig(student="embedded"))
    for path, start, end in windows:
        student.video_features(path, start, end)


def _students(out: Path, world: Path, runs: list[Run], spec: DemoSize, workers: int, clock: _Clock) -> None:
    """Train every student, then score it on the test split's answers; ``workers`` students at a
    time, each in its own process with its share of the cores."""
    # the longest first (a rationale set's file is the larger), so that no core idles at the end
    pending = sorted((r for r in runs if not _scored(out, r, runs)),
                     key=lambda r: -(out / "data" / f"{r.data}.jsonl").stat().st_size)
    pool, n = _pool(workers, len(pending))
    clock.stage(f"step 4: train {len(runs)} students and score them on the test split"
                + (f", {n} at a time" if n else ""))
    if pool is None:
        for run in runs:
            clock.log(f"   {run.name}: " + _student_job(out, world, run, spec, _explains(run, runs)))
    else:
        with pool:
            jobs = {pool.submit(_student_job, out, world, run, spec, _explains(run, runs)): run for run in pending}
            for done in as_completed(jobs):
                clock.log(f"   {jobs[done].name}: " + done.result())
    clock.done(f"{len(runs)} students trained and scored")


def _cost_run(runs: list[Run]) -> Run:
    """The student whose rationale run, alone on the machine, is the report's cost row: AoTD, first seed."""
    return next(r for r in runs if r.variant == "aotd")


def _explains(run: Run, runs: list[Run]) -> bool:
    """Whether ``run``'s job also writes and scores rationales (Table 7): the AoTD and unfiltered
    students', except the cost run's, which ``_evaluate`` does on a quiet machine."""
    return run.variant in ("aotd", "unfiltered") and run != _cost_run(runs)


def _scored(out: Path, run: Run, runs: list[Run]) -> bool:
    results = out / "results"
    return (results / f"{run.name}.json").exists() and (
        not _explains(run, runs) or (results / f"{run.name}.rationale.json").exists())


def _student_job(out: Path, world: Path, run: Run, spec: DemoSize, explain: bool) -> str:
    """Train ``run``'s student (unless trained), score its answers on the test split and, with
    ``explain``, its rationales on the first ``spec.rationale_eval``; a line saying how it went."""
    started = time.perf_counter()
    trained = _train(out, world, run, spec)
    took = time.perf_counter() - started
    result = out / "results" / f"{run.name}.json"
    _score(out, world, run, result)
    if explain:
        _score(out, world, run, out / "results" / f"{run.name}.rationale.json", spec.rationale_eval)
    accuracy = json.loads(result.read_text())["accuracy"]["overall"]["accuracy"]
    return (f"{trained}; test accuracy {accuracy:.3f} "
            f"(train {took:.0f} s, score {time.perf_counter() - started - took:.0f} s)")


def _score(out: Path, world: Path, run: Run, result: Path, rationales: int | None = None) -> None:
    """``run``'s student on the test split (unless ``result`` exists): its answers, or with
    ``rationales`` its answers and rationales on that many questions, the tower run on each
    question's frames (the latency of a question about a new video)."""
    from aotd.pipeline import evaluate
    from aotd.runner import RunOptions

    if result.exists():
        return
    test = _split(world, "test")
    evaluate(test if rationales is None else test[:rationales], result, data=world,
             model=out / "students" / run.name / "model", blind=run.blind, rationale=rationales is not None,
             fresh_features=rationales is not None, run=RunOptions(progress=False))


def _train(out: Path, world: Path, run: Run, spec: DemoSize) -> str:
    from aotd.config import DistillConfig, TrainConfig
    from aotd.distill.export import read_train_records
    from aotd.pipeline import train

    folder = out / "students" / run.name
    if (folder / "model").exists():
        return "already trained"
    # every variant and control: the same budget and settings (the λ sweep changes λ alone)
    settings = TrainConfig(epochs=spec.epochs, lr=2e-3, batch_size=16, seed=run.seed, checkpoint_every=50, lam=run.lam)
    records = read_train_records(out / "data" / f"{run.data}.jsonl")
    # training length chosen on the val split, by the same rule for every variant: the best epoch's weights
    result = train(DistillConfig(student="embedded", train=settings), records, folder,
                   inputs=_blind_inputs if run.blind else None, validate=_val_accuracy(world, run.blind), progress=False)
    curve = " ".join(f"{v['score']:.3f}" for v in result.get("val_curve", []))
    return (f"{result['steps']} steps, final loss {result['final_loss']['loss'] if result['final_loss'] else '-'}; "
            f"val accuracy by epoch {curve}, epoch {result.get('selected_epoch')} kept")


def _blind_inputs(student):  # noqa: ANN001, ANN202 - the embedded student; a frame loader
    """What a blind student reads for every record: black frames (what the text alone teaches)."""
    black = _black(student)
    return lambda r: black


def _black(student):  # noqa: ANN001, ANN202 - the embedded student and its features
    """What a blind student reads for every question: the tower's features of black frames."""
    from aotd.embedded.student.vision import FRAME_SIZE

    return student.prepare_frames(np.zeros((student.config.num_frames, *FRAME_SIZE, 3), np.uint8))


def _val_accuracy(world: Path, blind: bool) -> Callable:
    """The answer accuracy on the val split, as ``aotd eval`` scores the test split (the answer
    prompt, a generated reply, its option parsed); blind students see black frames here too."""
    from aotd.eval.run import ANSWER_TOKENS
    from aotd.models.options import answer_prompt, parse_option

    val = [s for s in _split(world, "val") if s.answer is not None and s.choice_texts]
    if not val:
        raise AotdError(f"{world}: the val split has no multiple-choice questions to choose the training length on")

    def accuracy(student) -> float:  # noqa: ANN001 - the embedded student (video_features, generate_batch)
        hits = 0
        black = _black(student) if blind else None
        for at in range(0, len(val), 64):  # the replies one-by-one generation gives, a batch at a time
            part = val[at : at + 64]
            items = [(black if black is not None else student.video_features(s.video.path, s.start, s.end),
                      answer_prompt(s.question, s.choice_texts)) for s in part]
            for s, reply in zip(part, student.generate_batch(items, max_new_tokens=ANSWER_TOKENS)):
                hits += s.choice_texts[parse_option(reply, s.choice_texts, rng_seed=s.sample_id).index] == s.answer
        return hits / len(val)

    return accuracy


def _evaluate(out: Path, world: Path, runs: list[Run], spec: DemoSize, clock: _Clock) -> None:
    """The agent on the test split, and the cost run's rationales alone on the machine (the
    student jobs wrote the other students' rationales): these rows' latency and memory are the
    report's cost comparison."""
    from aotd.pipeline import evaluate

    results = out / "results"
    clock.stage("evaluate the agent on the test split")
    evaluate(_split(world, "test"), results / "agent.json", data=world, traces=out / "agent_test.jsonl")
    clock.done("agent scored")
    run = _cost_run(runs)
    clock.stage(f"rationales of {run.name} on {spec.rationale_eval} test questions, alone (the cost row)")
    _score(out, world, run, results / f"{run.name}.rationale.json", spec.rationale_eval)
    summary = json.loads((results / f"{run.name}.rationale.json").read_text())
    clock.done(f"{summary['cost']['latency_s_mean']:.3f} s a question")


def _controls(out: Path, world: Path, clock: _Clock) -> None:
    """What text alone answers on this world's test split: the text-only baseline, step 1's text
    prior and the most frequent answer position, each fit on the train split."""
    from aotd.data.loaders.star import star_classes
    from aotd.eval.text_only import answer_position_accuracy, text_only_accuracy
    from aotd.select.prior import PriorQA

    path = out / "controls.json"
    clock.stage("controls: what text alone answers")
    if not path.exists():
        ds = _dataset(world)
        train, test = ds.by_split("train"), ds.by_split("test")
        prior = PriorQA.fit(train, star_classes(world, required="a generated world writes them"))
        hits = [prior.answer(None, s.question, s.choice_texts) == s.answer for s in test]  # type: ignore[arg-type]
        controls = {"text_only": text_only_accuracy(train, test), "step1_text_prior": sum(hits) / max(1, len(hits)),
                    "answer_position": answer_position_accuracy(train, test),
                    "question_pool": json.loads((world / "world.json").read_text()).get("question_pool")}
        path.write_text(json.dumps(controls, indent=2) + "\n")
    controls = json.loads(path.read_text())
    clock.done(f"text-only {controls['text_only']['overall']:.3f}, step-1 prior {controls['step1_text_prior']:.3f}")
