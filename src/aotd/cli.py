"""``aotd``: one command per pipeline step.

User mistakes raise ``AotdError``; ``main`` prints them as one line and exits with 2, the
same status click uses for a bad flag, so scripts can tell input errors from crashes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from aotd.errors import AotdError

SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a config value: section.key=value (e.g. distill.train.lam=0.5); repeatable")]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AoTD: verified chain-of-thought rationales for VideoQA, distilled into Video-LLMs.")
world_app = typer.Typer(no_args_is_help=True, help="The embedded situated world.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets in their published formats.")
tools_app = typer.Typer(no_args_is_help=True, help="The tool API programs call.")
agent_app = typer.Typer(invoke_without_command=True, help="Step 2: plan and run a tool program per question.")
app.add_typer(world_app, name="world")
app.add_typer(data_app, name="data")
app.add_typer(tools_app, name="tools")
app.add_typer(agent_app, name="agent")
distill_app = typer.Typer(no_args_is_help=True, help="Step 4: dual-mode training data, the λ-weighted trainer, students.")
app.add_typer(distill_app, name="distill")


def _noise(value: str) -> float:
    from aotd.embedded.world.render import parse_noise

    try:
        return parse_noise(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@world_app.command("generate")
def world_generate(
    out: Annotated[Path, typer.Option(help="folder to write the world into")],
    videos: Annotated[int, typer.Option(help="number of videos")] = 200,
    seed: Annotated[int, typer.Option(help="same seed, same annotations")] = 0,
    noise: Annotated[str, typer.Option(help="none | low | medium | high, or a number in [0, 1]")] = "medium",
    open_ended: Annotated[bool, typer.Option("--open-ended", help="also write open-ended questions (OE_<split>.jsonl)")] = False,
    questions_per_video: Annotated[int, typer.Option(help="questions asked about each video")] = 12,
    test_share: Annotated[float, typer.Option(help="share of the videos in the test split (val: 0.15)")] = 0.15,
    workers: Annotated[int, typer.Option(help="processes rendering videos")] = 2,
    force: Annotated[bool, typer.Option("--force", help="replace a world already in --out")] = False,
) -> None:
    """Render a STAR-format world: videos, questions with programs, situations, class files."""
    from aotd.embedded.world.generate import WorldConfig, generate_world

    cfg = WorldConfig(out=out, videos=videos, seed=seed, noise=_noise(noise), questions_per_video=questions_per_video,
                      test_share=test_share,
                      open_ended=open_ended, workers=max(1, workers))
    manifest = generate_world(cfg, force=force)
    typer.echo(f"wrote {manifest['videos']} videos and {sum(manifest['questions'].values())} questions to {out}")
    typer.echo(json.dumps({k: manifest[k] for k in ("splits", "questions", "families")}))


@world_app.command("preview")
def world_preview(
    data: Annotated[Path, typer.Option(help="a generated world")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("world.png"),
    question_id: Annotated[str | None, typer.Option("--id", help="question to show (default: the first)")] = None,
    frames: Annotated[int, typer.Option(help="sampled frames to show")] = 6,
) -> None:
    """Draw a question's sampled frames with their annotated boxes and actions."""
    from aotd.embedded.world.preview import preview

    path = preview(data, out, question_id=question_id, frames=frames)
    typer.echo(f"wrote {path}")


@data_app.command("stats")
def data_stats(
    path: Annotated[Path, typer.Argument(help="annotation file or folder")],
    fmt: Annotated[str, typer.Option("--format", help="star | nextqa | nextqa-oe | agqa | anetqa | jsonl | mvbench | videomme | perception-test | vsibench | activitynet-qa | videochatgpt")],
    split: Annotated[str | None, typer.Option(help="keep one split")] = None,
    classes: Annotated[Path | None, typer.Option(help="STAR class-file folder")] = None,
    video_root: Annotated[Path | None, typer.Option(help="folder holding the videos")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Load and validate a dataset; print counts by split and question type."""
    from aotd.data.loaders import load_dataset
    from aotd.data.stats import format_summary, summarize

    ds = load_dataset(fmt, path, split=split, classes_dir=classes, video_root=video_root)
    summary = summarize(ds)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@data_app.command("program")
def data_program(
    path: Annotated[Path, typer.Argument(help="STAR annotation file or folder")],
    question_id: Annotated[str, typer.Option("--id", help="question_id to run")],
    classes: Annotated[Path | None, typer.Option(help="STAR class-file folder (default: found beside the file)")] = None,
) -> None:
    """Execute a STAR question_program on its situations and judge every choice."""
    from aotd.data.loaders import load_dataset
    from aotd.data.loaders.star import star_classes
    from aotd.data.star_classes import StarClasses
    from aotd.data.star_program import check_sample

    ds = load_dataset("star", path, classes_dir=classes)
    sample = next((s for s in ds.samples if s.sample_id == question_id), None)
    if sample is None:
        raise AotdError(f"{path}: no question with id {question_id!r} ({len(ds)} questions loaded)")
    check = check_sample(sample, StarClasses.load(classes) if classes else
                         star_classes(path, required="pass --classes FOLDER"))
    typer.echo(f"{sample.sample_id}: {sample.question}")
    for step in check.run.steps:
        typer.echo(f"  {step.function}{_short(step.args)} -> {_short(step.output)}")
    for index, (choice, ok) in enumerate(zip(sample.choices, check.verdicts)):
        mark = "*" if index == sample.answer_index else " "
        typer.echo(f"  {mark} [{'Correct' if ok else 'Wrong'}] {choice.text}")
    typer.echo(f"program answer: {check.answer!r}; label: {sample.answer!r}; agrees: {check.agrees}")
    if not check.agrees:
        raise typer.Exit(1)


def _short(value: object, limit: int = 90) -> str:
    text = repr(value) if not isinstance(value, dict) else f"<{len(value)} situations>"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        text = f"<{len(value)} items>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@app.command("check-config")
def check_config_cmd(
    config: Annotated[Path, typer.Argument(help="a run config, e.g. configs/paper.yaml")],
    set_: SetOpt = None,
) -> None:
    """Check a run config without loading any model: keys, candidates, LLM sections, label list, local paths."""
    from aotd.config import load_config
    from aotd.config_check import check_config

    result = check_config(load_config(config, set_ or ()))
    for role, model in result.models:
        typer.echo(f"  {role:<28} {model}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    for error in result.errors:
        typer.echo(f"{config}: {error}", err=True)
    if result.errors:
        raise typer.Exit(1)
    typer.echo(f"{config}: ok")


def _run_options(shard: str | None, workers: int, executor: str, retry: list[str] | None,
                 cache: Path | None, no_cache: bool):  # noqa: ANN202 - RunOptions, imported lazily
    """The runner's flags, the same on every dataset-scale command, as one ``RunOptions``."""
    from aotd.paths import cache_dir
    from aotd.runner import RunOptions, Shard

    return RunOptions(shard=None if shard is None else Shard.parse(shard), workers=workers, executor=executor,
                      cache=None if no_cache else (cache or cache_dir() / "runs"), retry=tuple(retry or ()))


ShardOpt = Annotated[str | None, typer.Option(help="run only part I of N (0-based, e.g. 0/4); join with aotd merge")]
WorkersOpt = Annotated[int, typer.Option(help="worker processes (or Ray actors) in parallel")]
ExecutorOpt = Annotated[str, typer.Option(help="local | ray (RAY_ADDRESS, or a local Ray cluster)")]
CacheOpt = Annotated[Path | None, typer.Option(help="cache of tool outputs and LLM replies (default: $AOTD_CACHE/runs)")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not read or write the cache")]
RetryOpt = Annotated[list[str] | None, typer.Option(
    "--retry", help="redo records whose failure starts with this (e.g. crash after an LLM server outage); repeatable")]


@app.command("select")
def select(
    data: Annotated[Path, typer.Option(help="a STAR-format dataset with annotations (e.g. a generated world)")],
    config: Annotated[Path | None, typer.Option(help="run config whose tools are to be chosen")] = None,
    set_: SetOpt = None,
    split: Annotated[str, typer.Option(help="split to score on (the paper uses STAR train)")] = "train",
    limit: Annotated[int | None, typer.Option(help="first N questions (and their videos) only")] = None,
    out: Annotated[Path, typer.Option(
        help="folder for answers.jsonl (each question's scores; reruns resume), table1.{json,md} and the chosen "
             "config.yaml")] = Path("select"),
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    retry: RetryOpt = None,
) -> None:
    """Step 1: score every candidate per sub-task (paper Table 1) and write the chosen toolset."""
    from aotd.config import load_config
    from aotd.pipeline import select as run_selection
    from aotd.select import markdown

    options = _run_options(shard, workers, executor, retry, cache, no_cache)
    rows, chosen = run_selection(load_config(config, set_ or ()), data, out, split=split, limit=_limit(limit),
                                 run=options)
    if not rows:
        typer.echo(f"shard {options.shard}: its questions' scores are in {out / 'answers.jsonl'}; join the shards' "
                   "files with aotd merge, then run aotd select without --shard to write Table 1")
        return
    typer.echo(markdown(rows))
    typer.echo(f"chosen tools: {chosen.tools.model_dump()} -> {out / 'config.yaml'}")


@tools_app.command("doc")
def tools_doc() -> None:
    """Print the tool documentation the planner reads."""
    from aotd.tools.api import documentation

    typer.echo(documentation())


@tools_app.command("train")
def tools_train(out: Annotated[Path | None, typer.Option(
        help="folder for the weights and weights.json (default: the package's shipped weights folder)")] = None) -> None:
    """Train the embedded detector and recognizer from scratch (about five minutes on two cores):
    the command that made the shipped weights."""
    from aotd.embedded.tools.weights import SHIPPED, train_all

    manifest = train_all(out or SHIPPED)
    for name, entry in manifest["files"].items():
        typer.echo(f"{(out or SHIPPED) / name}  {entry['bytes']} bytes  sha256 {entry['sha256'][:16]}")


@agent_app.callback()
def agent(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="run config (default: configs/embedded.yaml values)")] = None,
    set_: SetOpt = None,
    data: Annotated[Path | None, typer.Option(help="dataset folder or file (STAR format)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dataset format")] = "star",
    split: Annotated[str, typer.Option(help="split to answer")] = "train",
    limit: Annotated[int | None, typer.Option(help="first N questions only")] = None,
    out: Annotated[Path, typer.Option(help="trace records (JSONL, appended; reruns resume)")] = Path("traces.jsonl"),
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    retry: RetryOpt = None,
) -> None:
    """Plan and execute every question of a split; print accuracy and failures by reason."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        raise AotdError("aotd agent needs --data DIR (or a subcommand: aotd agent exec ...)")
    from aotd.config import load_config
    from aotd.data.loaders import load_dataset
    from aotd.pipeline import agent as run_agent

    cfg = load_config(config, set_ or ())
    ds = load_dataset(fmt, data)
    samples = ds.by_split(split)
    if not samples:
        raise AotdError(f"{data}: split {split!r} has no questions (splits: {', '.join(ds.splits())})")
    samples = samples[:_limit(limit)] if limit is not None else samples
    report, summary = run_agent(cfg, samples, out, _run_options(shard, workers, executor, retry, cache, no_cache))
    typer.echo(json.dumps({"run": report.to_dict(), **summary}, indent=2))


@agent_app.command("exec")
def agent_exec(
    program: Annotated[Path, typer.Option(help="a Python file defining execute_command(video, question, choices)")],
    video: Annotated[Path, typer.Option(help="video file")],
    question: Annotated[str, typer.Option(help="the question")],
    choices_flag: Annotated[bool, typer.Option("--choices", help="the options follow: --choices A B C D")] = False,
    choices: Annotated[list[str] | None, typer.Argument(help="the options", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option(help="run config")] = None,
    set_: SetOpt = None,
    start: Annotated[float | None, typer.Option(help="window start, seconds")] = None,
    end: Annotated[float | None, typer.Option(help="window end, seconds")] = None,
) -> None:
    """Run one program on one video in the sandbox and print its trace as JSON."""
    from pydantic import ValidationError

    from aotd.agent.build import tool_factory
    from aotd.agent.sandbox import Limits, run_in_process, run_program
    from aotd.config import load_config
    from aotd.data.schema import Choice, QASample, VideoInfo
    from aotd.data.video import probe_video, sample_video
    from aotd.tools.clip import Clip

    source = _program_text(program)
    cfg = load_config(config, set_ or ())
    options = list(choices or [])
    try:
        sample = QASample(sample_id="cli", dataset="cli", split="cli", video=VideoInfo(video_id=video.stem, path=video),
                          question=question, choices=[Choice(choice_id=i, text=c) for i, c in enumerate(options)],
                          start=start, end=end)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = {("question",): "--question", ("start",): "--start", ("end",): "--end"}.get(tuple(err["loc"]), "--start/--end")
        raise AotdError(f"{flag}: {err['msg'].removeprefix('Value error, ')}") from None
    info = probe_video(video)
    duration = (info.num_frames or 0) / (info.fps or 1)
    if start is not None and start >= duration:
        raise AotdError(f"--start {start:g}: the video is {duration:.2f} s long; give a start inside it")
    clip = Clip(sample_video(video, start_s=start, end_s=end), video.stem)
    api = tool_factory(cfg)(sample, clip)
    runner = run_program if cfg.sandbox.isolate else run_in_process
    result = runner(source, tools=api.functions(),
                    inputs={"video": clip, "question": question, "choices": options},
                    limits=Limits(timeout_s=cfg.sandbox.timeout_s, memory_mb=cfg.sandbox.memory_mb))
    typer.echo(json.dumps({"tools": api.provenance(), **result.to_dict()}, indent=2))
    if not result.ok:
        raise typer.Exit(1)


def _warn(bad: list) -> None:
    """Every reader treats a bad input line one way: skipped, named here (file:line) and counted
    in the command's summary (``skipped_lines``)."""
    for line in bad:
        typer.echo(f"warning: skipped {line}", err=True)


def _limit(limit: int | None) -> int | None:
    if limit is not None and limit < 1:
        raise AotdError(f"--limit must be at least 1, got {limit} (leave it out for all)")
    return limit


def _program_text(program: Path) -> str:
    """A program file's text; one line naming the file when it is missing or not UTF-8 text."""
    if not program.is_file():
        raise AotdError(f"{program}: program file not found")
    try:
        return program.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AotdError(f"{program}: not UTF-8 text (byte {exc.start}); save the program as UTF-8") from None


@app.command("cot")
def cot(
    traces: Annotated[Path, typer.Option(help="step-2 trace records (JSONL)")],
    config: Annotated[Path | None, typer.Option(help="the run config the traces were made with")] = None,
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option(help="CoT records (JSONL, appended; reruns resume)")] = Path("cots.jsonl"),
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    retry: RetryOpt = None,
) -> None:
    """Step 3: convert traces to rationales, verify them in two stages, print Table 2."""
    from aotd.config import load_config
    from aotd.cot.stats import markdown
    from aotd.pipeline import cot as run_cot

    report, table, bad = run_cot(traces, load_config(config, set_ or ()), out,
                                 _run_options(shard, workers, executor, retry, cache, no_cache))
    _warn(bad)
    typer.echo(json.dumps({"run": report.to_dict(), "skipped_lines": len(bad)}, indent=2))
    typer.echo("\nStep 3 (Table 2):\n" + markdown(table))


@app.command("merge")
def merge(
    inputs: Annotated[list[Path], typer.Argument(help="the shards' record files")],
    out: Annotated[Path, typer.Option(help="merged records, sorted by sample id")],
) -> None:
    """Join the outputs of `--shard I/N` runs into one file (same config only; duplicates collapse)."""
    from aotd.runner import merge_files

    bad: list = []
    stats = merge_files(inputs, out, bad)
    _warn(bad)
    typer.echo(json.dumps(stats))


@app.command("view")
def view(
    records: Annotated[Path, typer.Option(help="CoT or trace records (JSONL)")],
    data: Annotated[Path | None, typer.Option(help="the dataset, for the frames")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dataset format")] = "star",
    video_root: Annotated[Path | None, typer.Option(help="folder holding the videos")] = None,
    out: Annotated[Path, typer.Option(help="folder for the static site")] = Path("site"),
    limit: Annotated[int | None, typer.Option(help="first N records only")] = None,
) -> None:
    """Write static HTML pages (frames with boxes, timeline, program, rationale, verdicts) and an index."""
    from aotd.view import write_site

    bad: list = []
    index = write_site(records, out, data=data, fmt=fmt, video_root=video_root, limit=_limit(limit), bad=bad)
    _warn(bad)
    typer.echo(f"open {index}")


@distill_app.command("build")
def distill_build(
    cots: Annotated[Path, typer.Option(help="step-3 CoT records (JSONL)")],
    data: Annotated[Path, typer.Option(help="the dataset the agent ran on")],
    out: Annotated[Path, typer.Option(help="training records to write")] = Path("train.jsonl"),
    fmt: Annotated[str, typer.Option("--format", help="aotd | llava | llamafactory | hf")] = "aotd",
    data_format: Annotated[str, typer.Option(help="dataset format")] = "star",
    split: Annotated[str, typer.Option(help="split whose labelled samples get answer records")] = "train",
    video_root: Annotated[Path | None, typer.Option(help="folder holding the videos")] = None,
    no_cot: Annotated[bool, typer.Option("--no-cot", help="answer records only: the Instruct baseline")] = False,
    cot_filter: Annotated[str, typer.Option(help="verified (both stages) | answer (stage i only) | none (ablation)")] = "verified",
) -> None:
    """Answer records for every labelled sample, rationale records for the CoTs that pass the filter."""
    from aotd.data.loaders import load_dataset
    from aotd.data.records import CotRecord, read_records
    from aotd.distill.build import summary
    from aotd.pipeline import build

    if cot_filter not in ("verified", "answer", "none"):
        raise AotdError(f"--cot-filter {cot_filter!r}: expected verified, answer or none")
    samples = load_dataset(data_format, data, split=split, video_root=video_root).samples
    bad: list = []
    records, written = build(samples, [] if no_cot else read_records(cots, CotRecord, bad), out, fmt=fmt,
                             cot_filter=cot_filter, no_cot=no_cot, source=str(data))
    _warn(bad)
    typer.echo(json.dumps({**summary(records), "written": [str(p) for p in written], "skipped_lines": len(bad)}))


@distill_app.command("train")
def distill_train(
    train_file: Annotated[Path, typer.Option("--train", help="training records (aotd format)")],
    config: Annotated[Path | None, typer.Option(help="run config; its distill section picks the student")] = None,
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option(help="run folder: checkpoint, model/, history.jsonl, loss.png")] = Path("runs/aotd"),
    lam: Annotated[float | None, typer.Option("--lambda", help="weight of L_rationale (default: the config's)")] = None,
    no_cot: Annotated[bool, typer.Option("--no-cot", help="drop rationale records: the Instruct baseline")] = False,
    max_steps: Annotated[int | None, typer.Option(help="stop after N steps (a checkpoint is kept)")] = None,
) -> None:
    """Train the configured student with L = L_label + λ·L_rationale; rerun the same command to resume."""
    from aotd.config import load_config
    from aotd.distill.export import read_train_records
    from aotd.pipeline import train

    cfg = load_config(config, set_ or ())
    bad: list = []
    records = read_train_records(train_file, bad)
    _warn(bad)
    if no_cot:
        records = [r for r in records if r.kind == "answer"]
    settings = cfg.distill.train.model_copy(update={k: v for k, v in (("lam", lam), ("max_steps", max_steps))
                                                    if v is not None})
    result = train(cfg.distill.model_copy(update={"train": settings}), records, out)
    typer.echo(json.dumps({**result, "skipped_lines": len(bad)}, indent=2))


@distill_app.command("generate")
def distill_generate(
    model: Annotated[Path, typer.Option(help="a trained student (runs/aotd/model)")],
    video: Annotated[Path, typer.Option(help="video file")],
    question: Annotated[str, typer.Option(help="the question")],
    choices_flag: Annotated[bool, typer.Option("--choices", help="the options follow: --choices A B C D")] = False,
    choices: Annotated[list[str] | None, typer.Argument(help="the options", show_default=False)] = None,
    rationale: Annotated[bool, typer.Option("--rationale", help="ask for the rationale instead of the answer")] = False,
    start: Annotated[float | None, typer.Option(help="window start, seconds")] = None,
    end: Annotated[float | None, typer.Option(help="window end, seconds")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="longest reply")] = 384,
) -> None:
    """Answer a question about a video with a trained student (answer prompt, or --rationale)."""
    from aotd.data.video import sample_video
    from aotd.distill.students import load_student
    from aotd.models.options import answer_prompt, rationale_prompt

    options = list(choices or [])
    student = load_student(model)
    prompt = (rationale_prompt if rationale else answer_prompt)(question, options)
    frames = sample_video(video, start_s=start, end_s=end).frames
    typer.echo(student.generate(frames, prompt, max_new_tokens=max_new_tokens))


@app.command("eval")
def evaluate(
    data: Annotated[Path, typer.Option(help="the dataset to evaluate on")],
    model: Annotated[Path | None, typer.Option(help="a trained student (runs/aotd/model)")] = None,
    traces: Annotated[Path | None, typer.Option(help="or: the agent's traces on the split (aotd agent --split test)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="dataset format")] = "star",
    split: Annotated[str, typer.Option(help="split to evaluate")] = "test",
    video_root: Annotated[Path | None, typer.Option(help="folder holding the videos")] = None,
    rationale: Annotated[bool, typer.Option("--rationale", help="also generate rationales and score their grounding")] = False,
    blind: Annotated[bool, typer.Option("--blind", help="a control: the student sees black frames")] = False,
    fresh_features: Annotated[bool, typer.Option(
        "--fresh-features", help="run the vision tower on each question's frames instead of reusing features kept "
                                 "per video (slower; the latency is then a new video's real cost)")] = False,
    limit: Annotated[int | None, typer.Option(help="first N questions only")] = None,
    out: Annotated[Path, typer.Option(help="summary JSON; rows go to <out>.rows.jsonl beside it")] = Path("results.json"),
    config: Annotated[Path | None, typer.Option(help="run config whose eval.judge scores open-ended answers")] = None,
    set_: SetOpt = None,
    judge_backend: Annotated[str | None, typer.Option(help="open-ended LLM judge: openai | transformers "
                                                           "(= --set eval.judge.backend=...)")] = None,
    judge_model: Annotated[str | None, typer.Option(help="the judge's model name or path (eval.judge.model)")] = None,
    judge_base_url: Annotated[str | None, typer.Option(
        help="the judge's OpenAI-compatible server (eval.judge.base_url)")] = None,
    shard: ShardOpt = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    retry: RetryOpt = None,
) -> None:
    """Score a student (or the agent's traces): accuracy, fallbacks, rationale grounding, latency and memory."""
    from aotd.data.loaders import load_dataset
    from aotd.pipeline import evaluate as run_evaluation

    if (model is None) == (traces is None):
        raise AotdError("pass exactly one of --model (a trained student) or --traces (the agent's traces)")
    samples = load_dataset(fmt, data, split=split, video_root=video_root).samples[:_limit(limit)]
    if not samples:
        raise AotdError(f"{data}: split {split!r} has no questions")
    from aotd.config import LLMConfig, load_config, validated

    options = _run_options(shard, workers, executor, retry, cache, no_cache)
    flags = {"backend": judge_backend, "model": judge_model, "base_url": judge_base_url}
    llm = load_config(config, set_ or ()).eval.judge  # the flags, given as they are typed, override the config
    llm = validated(LLMConfig, {**llm.model_dump(), **{k: v for k, v in flags.items() if v is not None}},
                    where="--judge-*: ", section="eval.judge.")
    judge = None
    if llm.backend or llm.model:
        from aotd.eval.metrics import LLMScoreJudge
        from aotd.llm.build import build_backend

        judge = LLMScoreJudge(build_backend(llm, section="eval.judge",
                                            cache_dir=None if options.cache is None else options.cache / "llm"))
    bad: list = []
    summary = run_evaluation(samples, out, data=data, model=model, traces=traces, rationale=rationale, blind=blind,
                             fresh_features=fresh_features, judge=judge, bad=bad,
                             run=options)
    _warn(bad)
    typer.echo(json.dumps(summary, indent=2))


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="folder for everything the demo writes")] = Path("runs/demo"),
    size: Annotated[str, typer.Option(help="small (the default demo) | full (a 300-video world, three seeds, "
                                           "6 epochs, a data-size curve and a λ sweep: about an hour) | tiny (a smoke test)")] = "small",
    seeds: Annotated[int | None, typer.Option(help="training seeds of every compared variant (controls: one); "
                                                   "default: 2, or 3 at --size full")] = None,
    seed: Annotated[int, typer.Option(help="the world's seed and the first training seed")] = 0,
    workers: Annotated[int, typer.Option(help="processes for the agent")] = 2,
) -> None:
    """The whole pipeline on the embedded world: tools, agent, CoTs, three students, evaluation, report.

    Each stage resumes from its output, so a rerun continues where it stopped.
    """
    from aotd.demo import run_demo

    run_demo(out, size=size, seeds=seeds, seed=seed, workers=workers, log=typer.echo)


@app.command("report")
def report(
    runs: Annotated[Path, typer.Option(help="a demo folder (aotd demo --out)")] = Path("runs/demo"),
    out: Annotated[Path | None, typer.Option(help="report folder (default: <runs>/report)")] = None,
) -> None:
    """Write the report (Markdown + HTML, tables and plots) of a demo run."""
    from aotd.pipeline import report as write_report

    folder = write_report(runs, out or runs / "report")
    typer.echo(f"wrote {folder / 'README.md'} and {folder / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="aotd")  # exits itself; usage errors exit with 2
    except AotdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # the machine, not the input: a full disk, a read-only or vanished folder
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        sys.exit(1)


def _os_error(exc: OSError) -> str:
    """One line for an operating-system failure, and what to do about it."""
    import errno

    named = exc  # a buffered file's flush names no file; the failure it follows may
    while named is not None and not getattr(named, "filename", None):
        named = named.__cause__ or named.__context__
    filename = getattr(named, "filename", None)
    where = f": {filename}" if filename else ""
    text = f"{exc.strerror or exc}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{text}; free some space and run the same command again: the records written so far are kept"
    return text


if __name__ == "__main__":
    main()
