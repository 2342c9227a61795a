"""``aotd``: one command per pipeline step.

User mistakes raise ``AotdError``; ``main`` prints them as one line and exits with 2, the
same status click uses for a bad flag, so scripts can tell input errors from crashes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from aotd.errors import AotdError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AoTD: verified chain-of-thought rationales for VideoQA, distilled into Video-LLMs.")
world_app = typer.Typer(no_args_is_help=True, help="The embedded situated world.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets in their published formats.")
app.add_typer(world_app, name="world")
app.add_typer(data_app, name="data")


def _noise(value: str) -> float:
    from aotd.world.render import parse_noise

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
    questions_per_video: Annotated[int, typer.Option(help="questions asked about each video")] = 8,
    workers: Annotated[int, typer.Option(help="processes rendering videos")] = 2,
    force: Annotated[bool, typer.Option("--force", help="replace a world already in --out")] = False,
) -> None:
    """Render a STAR-format world: videos, questions with programs, situations, class files."""
    from aotd.world.generate import WorldConfig, generate_world

    cfg = WorldConfig(out=out, videos=videos, seed=seed, noise=_noise(noise), questions_per_video=questions_per_video,
                      open_ended=open_ended, workers=max(1, workers))
    manifest = generate_world(cfg, force=force)
    typer.echo(f"wrote {manifest['videos']} videos and {sum(manifest['questions'].values())} questions to {out}")
    typer.echo(json.dumps({k: manifest[k] for k in ("splits", "questions", "families")}))


@world_app.command("preview")
def world_preview(
    data: Annotated[Path, typer.Option(help="a generated world")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("world.png"),
    question_id: Annotated[Optional[str], typer.Option("--id", help="question to show (default: the first)")] = None,
    frames: Annotated[int, typer.Option(help="sampled frames to show")] = 6,
) -> None:
    """Draw a question's sampled frames with their annotated boxes and actions."""
    from aotd.world.preview import preview

    path = preview(data, out, question_id=question_id, frames=frames)
    typer.echo(f"wrote {path}")


@data_app.command("stats")
def data_stats(
    path: Annotated[Path, typer.Argument(help="annotation file or folder")],
    fmt: Annotated[str, typer.Option("--format", help="star | nextqa | nextqa-oe | agqa | anetqa | jsonl")],
    split: Annotated[Optional[str], typer.Option(help="keep one split")] = None,
    classes: Annotated[Optional[Path], typer.Option(help="STAR class-file folder")] = None,
    video_root: Annotated[Optional[Path], typer.Option(help="folder holding the videos")] = None,
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
    classes: Annotated[Optional[Path], typer.Option(help="STAR class-file folder (default: found beside the file)")] = None,
) -> None:
    """Execute a STAR question_program on its situations and judge every choice."""
    from aotd.data.loaders import load_dataset
    from aotd.data.loaders.star import class_folder
    from aotd.data.star_classes import StarClasses
    from aotd.data.star_program import check_sample

    ds = load_dataset("star", path, classes_dir=classes)
    sample = next((s for s in ds.samples if s.sample_id == question_id), None)
    if sample is None:
        raise AotdError(f"{path}: no question with id {question_id!r} ({len(ds)} questions loaded)")
    folder = classes or class_folder(path)
    if folder is None:
        raise AotdError(f"no STAR class files found beside {path}; pass --classes FOLDER")
    check = check_sample(sample, StarClasses.load(folder))
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


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="folder for everything the demo writes")] = Path("runs/demo"),
    videos: Annotated[int, typer.Option(help="videos in the demo world")] = 200,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option()] = 2,
) -> None:
    """Run the pipeline end to end on the embedded world (so far: generate it and describe it)."""
    from aotd.data.loaders import load_dataset
    from aotd.data.stats import format_summary, summarize
    from aotd.world.generate import WorldConfig, generate_world

    world = out / "world"
    if not (world / "world.json").exists():
        generate_world(WorldConfig(out=world, videos=videos, seed=seed, workers=max(1, workers), open_ended=True))
    typer.echo(format_summary(summarize(load_dataset("star", world))))
    from aotd.world.preview import preview

    typer.echo(f"preview: {preview(world, out / 'world.png')}")


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="aotd")  # exits itself; usage errors exit with 2
    except AotdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
