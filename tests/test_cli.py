"""The `aotd` command: what users type, what they see, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aotd.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_data_stats_on_a_world(world_dir: Path, capsys) -> None:
    code, out, _ = run(["data", "stats", "--format", "star", str(world_dir)], capsys)
    assert code == 0
    for family in ("Interaction", "Sequence", "Prediction", "Feasibility"):
        assert family in out
    code, out, _ = run(["data", "stats", "--format", "star", str(world_dir), "--json"], capsys)
    summary = json.loads(out)
    assert summary["total"] == sum(summary["by_split"].values())


def test_data_program_runs_and_agrees(world_dir: Path, capsys) -> None:
    records = json.loads((world_dir / "annotations" / "STAR_train.json").read_text())
    qid = next(r["question_id"] for r in records if r["question_id"].startswith("Sequence"))
    code, out, _ = run(["data", "program", str(world_dir), "--id", qid], capsys)
    assert code == 0
    assert "Filter_After_Actions" in out or "Filter_Before_Actions" in out
    assert "agrees: True" in out


def test_world_preview_writes_a_picture(world_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.png"
    code, _, _ = run(["world", "preview", "--data", str(world_dir), "--out", str(out)], capsys)
    assert code == 0 and out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["world", "generate", "--out", "{tmp}/w", "--videos", "0"], "--videos must be at least 1"),
        (["data", "stats", "--format", "bogus", "{tmp}"], "unknown dataset format 'bogus'"),
        (["data", "stats", "--format", "star", "{tmp}/missing"], "no such file"),
        (["data", "program", "{world}", "--id", "Nope_T1_1"], "no question with id 'Nope_T1_1'"),
        (["agent", "--data", "{world}", "--set", "sandbox.timeout_s=0"], "field 'sandbox.timeout_s'"),
        (["cot", "--traces", "{tmp}/t.jsonl", "--set", "cot.judge=nosuch"], "field 'cot.judge'"),
        (["check-config", "configs/embedded.yaml", "--set", "tools"], "expected section.key=value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, world_dir: Path, tmp_path: Path, capsys) -> None:
    args = [a.format(tmp=tmp_path, world=world_dir) for a in args]
    code, _, err = run(args, capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_noise_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, _, err = run(["world", "generate", "--out", str(tmp_path), "--noise", "loud"], capsys)
    assert code == 2 and "noise" in err


def test_console_script_entry_point(tmp_path: Path) -> None:
    """The installed `aotd` script (not just the function) exits 2 with a one-line error."""
    proc = subprocess.run([sys.executable, "-m", "aotd.cli", "data", "stats", "--format", "star", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_cot_shards_merge_and_view(world_dir: Path, world_traces: Path, tmp_path: Path, capsys) -> None:
    from conftest import cheap_config

    from aotd.config import save_config

    config = tmp_path / "cfg.yaml"
    save_config(cheap_config(), config)
    base = ["cot", "--traces", str(world_traces), "--config", str(config), "--no-cache"]
    code, out, _ = run([*base, "--out", str(tmp_path / "all.jsonl")], capsys)
    assert code == 0 and "Step 3 (Table 2):" in out and "| star | all |" in out
    for i in range(2):
        code, _, _ = run([*base, "--shard", f"{i}/2", "--out", str(tmp_path / f"part{i}.jsonl")], capsys)
        assert code == 0
    code, out, _ = run(["merge", str(tmp_path / "part0.jsonl"), str(tmp_path / "part1.jsonl"),
                        "--out", str(tmp_path / "merged.jsonl")], capsys)
    assert code == 0 and json.loads(out)["records"] == len(world_traces.read_text().splitlines())
    assert (tmp_path / "merged.jsonl").read_text().splitlines() == sorted((tmp_path / "all.jsonl").read_text().splitlines())
    code, out, _ = run(["view", "--records", str(tmp_path / "merged.jsonl"), "--data", str(world_dir),
                        "--out", str(tmp_path / "site"), "--limit", "3"], capsys)
    assert code == 0 and (tmp_path / "site" / "index.html").is_file()
    code, _, err = run(["cot", "--traces", str(world_traces), "--out", str(tmp_path / "x.jsonl"), "--no-cache"], capsys)
    assert code == 2 and "pass the config `aotd agent` ran with" in err  # the default config is not the traces'
    code, _, err = run([*base, "--shard", "2/2", "--out", str(tmp_path / "y.jsonl")], capsys)
    assert code == 2 and "--shard '2/2'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--question", ""], "--question: must not be empty"),
        (["--question", "q", "--start", "5", "--end", "2"], "--start/--end: window end 2.0 is before start 5.0"),
        (["--question", "q", "--start", "-3"], "--start: Input should be greater than or equal to 0"),
        (["--question", "q", "--start", "nan"], "--start: Input should be greater than or equal to 0"),
        (["--question", "q", "--start", "1e9"], "--start 1e+09: the video is"),
        (["--question", "q", "--program", "{tmp}/latin1.py"], "latin1.py: not UTF-8 text (byte 0)"),
    ],
    ids=["empty_question", "end_before_start", "negative_start", "nan_start", "start_past_the_end", "non_utf8"],
)
def test_agent_exec_bad_arguments_are_one_line(args, message, world_dir: Path, tmp_path: Path, capsys) -> None:
    program = tmp_path / "p.py"
    program.write_text("def execute_command(video, question, choices):\n    return choices[0]\n")
    (tmp_path / "latin1.py").write_bytes(b"\xff# caf\xe9\n")
    video = next((world_dir / "videos").glob("*.mp4"))
    args = [a.format(tmp=tmp_path) for a in args]
    if "--program" not in args:
        args += ["--program", str(program)]
    code, _, err = run(["agent", "exec", "--video", str(video), *args, "--choices", "a", "b"], capsys)
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_set_goes_into_the_records_provenance(world_dir: Path, tmp_path: Path, capsys) -> None:
    """`--set` acts like an edited config file: its records carry another config digest, so a
    run resumed with other settings is refused instead of mixing outputs."""
    common = ["agent", "--data", str(world_dir), "--limit", "2", "--no-cache"]
    assert run([*common, "--out", str(tmp_path / "a.jsonl")], capsys)[0] == 0
    assert run([*common, "--out", str(tmp_path / "b.jsonl"), "--set", "sandbox.timeout_s=5"], capsys)[0] == 0
    digests = [{json.loads(line)["provenance"]["config"] for line in (tmp_path / f"{n}.jsonl").read_text().splitlines()}
               for n in "ab"]
    assert len(digests[0]) == len(digests[1]) == 1 and digests[0] != digests[1]
    code, _, err = run([*common, "--out", str(tmp_path / "a.jsonl"), "--set", "sandbox.timeout_s=5"], capsys)
    assert code == 2 and "made with config" in err


@pytest.mark.parametrize("command", [["select"], ["agent"], ["cot"], ["eval"]])
def test_every_dataset_scale_command_takes_the_runners_options(command: list[str], capsys) -> None:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    for flag in ("--shard", "--workers", "--executor", "--cache", "--no-cache", "--retry"):
        assert flag in out, f"aotd {command[0]} lacks {flag}"
