"""Fault injection: runs killed at several moments, a full disk, two runs on one output, bad lines.

What must hold: no process a run started outlives it; a resumed run ends with each record once,
every record with its timing; a full disk is one line and a non-zero exit, and what was written
stays; a second writer stops at once, naming the first; a bad input line is skipped, named and
counted by every command that reads records.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_run import SandboxStage

from aotd.runner import run_stage
from aotd.runner.lock import Locked, lock_path

FAULT_RUN = Path(__file__).parent / "fault_run.py"
ITEMS = 40


def _survivors(session: int) -> list[str]:
    """Live (not zombie) processes of a session: what a killed run left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _, _, sid = stat.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state != "Z":
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def _records_and_timings(out: Path) -> tuple[list[str], list[str]]:
    records = out.read_text().splitlines()
    timings = [json.loads(line)["sample_id"] for line in (out.with_name("out.timings.jsonl")).read_text().splitlines()]
    return records, timings


def _start(out: Path, workers: int, slow_start_s: float = 0.0, executor: str = "local") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(FAULT_RUN), str(out), str(ITEMS), str(workers), str(slow_start_s),
                             executor],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "delay", "executor"), [
    (1, 0.7, "local"), (1, 2.5, "local"), (2, 1.0, "local"), (2, 4.0, "local"), (2, 9.0, "ray")])
def test_a_killed_run_leaves_no_process_and_resumes_to_every_record_once(workers: int, delay: float, executor: str,
                                                                          tmp_path: Path) -> None:
    """0.7-1 s: before the first program, workers still starting; later: programs in flight (with
    Ray: a local cluster, whose agents would otherwise linger for a minute)."""
    out = tmp_path / "out.jsonl"
    run = _start(out, workers, slow_start_s=1.5 if executor == "local" else 0.0, executor=executor)
    time.sleep(delay)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 5
    while (left := _survivors(run.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still alive 5 s after the run was killed: {left}"
    subprocess.run([sys.executable, str(FAULT_RUN), str(out), str(ITEMS), "1"], check=True, capture_output=True)
    records, timings = _records_and_timings(out)
    stage = SandboxStage()
    assert sorted(records) == sorted(stage._line(i, i * i, None) for i in range(ITEMS))
    assert sorted(timings) == sorted(json.loads(r)["sample_id"] for r in records)  # one timing per record
    assert not lock_path(out).exists()


def test_timings_match_the_records_whatever_a_kill_left(tmp_path: Path) -> None:
    """The states a kill can leave in the timings file: a timing whose record was never written,
    a torn last line, a duplicate; the resume leaves one timing per record."""
    from test_runner import ToyStage

    out = tmp_path / "out.jsonl"
    run_stage(ToyStage(), range(10), out, progress=False)
    timings = out.with_name("out.timings.jsonl")
    lines = timings.read_text().splitlines(keepends=True)
    timings.write_text("".join(lines + [lines[0], '{"sample_id": "s0010", "toy_s": 0.1}\n', '{"sample_id": "s00']))
    run_stage(ToyStage(), range(12), out, progress=False)
    ids = [json.loads(line)["sample_id"] for line in timings.read_text().splitlines()]
    assert sorted(ids) == [f"s{i:04d}" for i in range(12)]


def test_a_second_run_on_one_output_stops_naming_the_first_and_a_dead_ones_lock_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = _start(out, 1)
    try:
        deadline = time.monotonic() + 30
        while not (lock_path(out).exists() and lock_path(out).read_text().strip()):
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took its lock"
            time.sleep(0.05)
        with pytest.raises(Locked, match=rf"another run \(pid {first.pid}\) is writing it"):
            run_stage(SandboxStage(), range(ITEMS), out, progress=False)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert lock_path(out).exists()  # left behind by the killed run: taken over below
    report = run_stage(SandboxStage(), range(ITEMS), out, progress=False)
    records, timings = _records_and_timings(out)
    assert report.written + report.already_done == ITEMS == len(records) == len(set(records)) == len(timings)


# -- a full disk ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _small_disk(path: Path, size_kb: int) -> Iterator[None]:
    """A tmpfs of ``size_kb`` at ``path`` (needs root; skipped elsewhere); grown by ``_grow``."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"a small tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _grow(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=16m", str(path)], check=True)


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aotd.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("command", ["agent", "cot", "eval"])
def test_a_full_disk_is_one_line_and_keeps_what_was_written(command: str, world_dir: Path, world_traces: Path,
                                                            tmp_path: Path) -> None:
    from conftest import cheap_config

    from aotd.config import save_config

    config = tmp_path / "cfg.yaml"
    save_config(cheap_config(), config)
    disk = tmp_path / "disk"
    out = disk / ("summary.json" if command == "eval" else "out.jsonl")
    args = {"agent": ["agent", "--data", world_dir, "--limit", 6, "--config", config, "--no-cache", "--out", out],
            "cot": ["cot", "--traces", world_traces, "--config", config, "--no-cache", "--out", out],
            "eval": ["eval", "--data", world_dir, "--split", "train", "--traces", world_traces, "--out", out]}[command]
    with _small_disk(disk, 8):
        full = _cli(*args)
        assert full.returncode != 0, full.stdout[-500:]
        last = full.stderr.strip().splitlines()[-1]  # after the progress bar
        assert last.startswith("error: No space left on device: ") and "Traceback" not in full.stderr, full.stderr
        assert "the records written so far are kept" in last
        kept = out.read_text().splitlines(keepends=True) if out.exists() and command != "eval" else []
        _grow(disk)
        again = _cli(*args)
        assert again.returncode == 0, again.stderr[-800:]
        if command == "eval":
            assert json.loads(out.read_text())["rows"] == 48
            return
        lines = out.read_text().splitlines(keepends=True)
        ids = [json.loads(line)["sample_id"] for line in lines]
        assert len(ids) == len(set(ids)) == (6 if command == "agent" else 48)
        assert all(line in lines for line in kept if line.endswith("\n"))  # nothing already written was lost
        timings = [json.loads(t)["sample_id"] for t in out.with_name("out.timings.jsonl").read_text().splitlines()]
        assert sorted(timings) == sorted(ids)


# -- a bad line, one way everywhere -----------------------------------------------------------------
def test_a_bad_traces_line_is_skipped_named_and_counted_by_every_reader(world_dir: Path, world_traces: Path,
                                                                         tmp_path: Path) -> None:
    from conftest import cheap_config

    from aotd.config import save_config

    config = tmp_path / "cfg.yaml"
    save_config(cheap_config(), config)
    lines = world_traces.read_text().splitlines()
    traces = tmp_path / "traces.jsonl"
    traces.write_text("\n".join([*lines[:3], lines[3][:40], *lines[4:10]]) + "\n")
    where = f"{traces}:4"
    cot = _cli("cot", "--traces", traces, "--config", config, "--no-cache", "--out", tmp_path / "cots.jsonl")
    evaluation = _cli("eval", "--data", world_dir, "--split", "train", "--traces", traces, "--out", tmp_path / "s.json")
    view = _cli("view", "--records", traces, "--out", tmp_path / "site")
    for name, proc in (("cot", cot), ("eval", evaluation), ("view", view)):
        assert proc.returncode == 0, (name, proc.stderr[-800:])
        assert f"warning: skipped {where}:" in proc.stderr, (name, proc.stderr[-800:])
    assert json.loads(cot.stdout.split("\nStep 3")[0])["skipped_lines"] == 1
    assert json.loads((tmp_path / "s.json").read_text())["skipped_lines"] == 1
    assert json.loads((tmp_path / "s.json").read_text())["rows"] == 9
    cots = (tmp_path / "cots.jsonl").read_text().splitlines()
    (tmp_path / "cots.jsonl").write_text("\n".join([cots[0], "{not json", *cots[1:]]) + "\n")
    build = _cli("distill", "build", "--cots", tmp_path / "cots.jsonl", "--data", world_dir, "--out", tmp_path / "t.jsonl")
    assert build.returncode == 0 and f"warning: skipped {tmp_path / 'cots.jsonl'}:2:" in build.stderr, build.stderr
    assert json.loads(build.stdout)["skipped_lines"] == 1


def test_a_cost_figure_says_how_many_samples_it_covers(world_dir: Path, world_traces: Path, tmp_path: Path) -> None:
    """Traces whose timings were lost (a file from before timings were written with the records)
    still score; the latency and memory figure then says it covers only part of them."""
    from aotd.data.loaders import load_dataset
    from aotd.eval.agent import evaluate_traces
    from aotd.runner import timings_path

    traces = tmp_path / "traces.jsonl"
    traces.write_text(world_traces.read_text())
    timings = timings_path(world_traces).read_text().splitlines()
    timings_path(traces).write_text("\n".join(timings[:17]) + "\n")
    samples = load_dataset("star", world_dir).by_split("train")
    _, summary = evaluate_traces(traces, samples)
    assert summary["rows"] == 48 and summary["cost"]["samples"] == 17 and summary["cost"]["partial"] is True
    timings_path(traces).write_text("\n".join(timings) + "\n")
    _, summary = evaluate_traces(traces, samples)
    assert summary["cost"]["samples"] == 48 and summary["cost"]["partial"] is False
