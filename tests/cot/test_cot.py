"""Step 3: the rule converter, both verification stages, Table 2, the stage and `aotd cot`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cheap_config

from aotd.config import Config, ToolChoice, save_config
from aotd.cot.convert import RuleConverter
from aotd.cot.stage import build_cot, check_trace_configs, run_cot
from aotd.cot.stats import markdown, table2
from aotd.cot.verify import NormalizedAnswer, RuleJudge
from aotd.data.records import CotRecord, TraceRecord, Verdict, read_records
from aotd.data.text import normalize
from aotd.errors import AotdError

CONVERTER, JUDGE, ANSWER = RuleConverter(), RuleJudge(), NormalizedAnswer()


@pytest.fixture(scope="module")
def traces(world_traces: Path) -> list[TraceRecord]:
    return read_records(world_traces, TraceRecord)


def test_rule_rationales_keep_grounding_and_end_in_the_answer(traces: list[TraceRecord]) -> None:
    ok = [t for t in traces if not t.failure]
    assert len(ok) >= 40
    for t in ok:
        conv = CONVERTER.convert(t)
        assert conv.rationale and conv.rationale.startswith("First, ")
        assert conv.rationale.endswith(f"So the answer is: {t.prediction}")
        other = t.model_copy(update={"label": "The unicorn.", "correct": None})
        assert CONVERTER.convert(other).rationale == conv.rationale  # the label is never read
    windows = [t for t in ok if any(c["name"] == "find_action" and c["output"] for c in t.sandbox["calls"])]
    boxes = [t for t in ok if any(c["name"] == "detect" and c["output"] for c in t.sandbox["calls"])]
    assert windows and boxes
    call = next(c for c in windows[0].sandbox["calls"] if c["name"] == "find_action" and c["output"])
    assert f"from frame {call['output']['start']} to frame {call['output']['end']}" in CONVERTER.convert(windows[0]).rationale
    box = next(c for c in boxes[0].sandbox["calls"] if c["name"] == "detect" and c["output"])["output"][0]
    x1, y1, x2, y2 = (round(v) for v in box["box"])
    assert f"[{x1}, {y1}, {x2}, {y2}] in frame {box['frame']}" in CONVERTER.convert(boxes[0]).rationale


def test_a_failed_trace_has_no_rationale(traces: list[TraceRecord]) -> None:
    t = traces[0].model_copy(update={"failure": "sandbox:timeout", "error": "ran past 20 s", "prediction": None})
    rec = build_cot(t, CONVERTER, JUDGE, ANSWER)
    assert rec.failure == "trace:sandbox:timeout" and rec.rationale is None and not rec.kept and rec.answer is None


GOOD = ("First, I find \"take the book\" from frame 3 to frame 8. Then, I recognise the actions in frames 8 to 31: "
        "open the door from frame 12 to frame 15. This points to the action open the door. So the answer is: Opened the door.")


@pytest.mark.parametrize(("rationale", "failed"), [
    (GOOD, None),
    ("First, I recognise open the door from frame 12 to frame 15. So the answer is: Opened the door.", "steps"),
    ("First, I look at the video. Then, the person opens the door. So the answer is: Opened the door.", "grounded"),
    (GOOD.replace("So the answer is: Opened the door.", "That is all."), "concludes"),
    (GOOD.replace("open the door from", "close the window from").replace("action open the door", "action close it"),
     "supported"),
    (("First, I search frames 0 to 31 for \"open the door\" and do not find it. Then, I check frames 3 to 9: "
      "the person opened the door. So the answer is: Opened the door."), "consistent"),
    (GOOD.replace("from frame 12 to frame 15", "from frame 12 to frame 15, and so on"), "complete"),
    ("", "empty"),
])
def test_rule_judge_names_each_failed_property(rationale: str, failed: str | None) -> None:
    verdict = JUDGE.judge("What did the person do after they took the book?", ["Opened the door.", "Closed the window."],
                          "Opened the door.", rationale)
    assert verdict.passed is (failed is None)
    assert (verdict.reason or None) == failed or failed in (verdict.reason or "")


@pytest.mark.parametrize(("prediction", "label", "ok"), [
    ("Took the book", "took the book.", True), ("the Book", "book", True), ("take book", "Took the book.", True),
    ("put down the book", "Took the book.", False), ("", "book", False), ("book", "cup", False),
])
def test_open_ended_answers_match_after_normalisation(prediction: str, label: str, ok: bool) -> None:
    assert ANSWER.check("What did the person do?", label, prediction).passed is ok
    assert normalize("Took  the BOOK!") == normalize("take book")


def test_stage_two_runs_only_after_stage_one_unless_judge_all(traces: list[TraceRecord]) -> None:
    wrong = next(t for t in traces if t.correct is False)
    right = next(t for t in traces if t.correct)
    rec = build_cot(wrong, CONVERTER, JUDGE, ANSWER)
    assert rec.answer.passed is False and rec.quality is None and rec.rationale and not rec.kept
    rec = build_cot(wrong, CONVERTER, JUDGE, ANSWER, judge_all=True)
    assert rec.quality is not None and rec.quality.passed is not None and not rec.kept
    rec = build_cot(right, CONVERTER, JUDGE, ANSWER)
    assert rec.answer.passed and rec.kept == bool(rec.quality.passed)


def test_open_ended_trace_uses_the_answer_judge(traces: list[TraceRecord]) -> None:
    t = next(t for t in traces if t.correct).model_copy(update={"choices": []})
    t = t.model_copy(update={"prediction": str(t.label).upper().rstrip(".")})
    assert build_cot(t, CONVERTER, JUDGE, ANSWER).answer.method == "normalized"

    class Unsure:
        name = "llm:x"

        def check(self, question: str, label: str, prediction: str) -> Verdict:
            return Verdict(passed=None, method=self.name, reason="unparsable reply", reply="maybe")

    rec = build_cot(t, CONVERTER, JUDGE, Unsure())
    assert rec.failure == "judge:answer" and not rec.kept


def test_table2_counts_each_stage(traces: list[TraceRecord]) -> None:
    records = [build_cot(t, CONVERTER, JUDGE, ANSWER) for t in traces]
    table = table2(records)
    total = next(r for r in table["rows"] if r["dataset"] == "all")
    assert total["labels"] == len(traces) and total["answer_ok"] == sum(bool(t.correct) for t in traces)
    assert total["kept"] == sum(r.kept for r in records) and total["judged"] == total["answer_ok"]
    types = [r for r in table["rows"] if r["dataset"] == "star" and r["type"] != "all"]
    assert sum(r["labels"] for r in types) == total["labels"] and len(types) == 4
    assert "answer:wrong" in table["rejections"] and "| star | Interaction |" in markdown(table)


def test_traces_of_another_config_are_refused(traces: list[TraceRecord], world_traces: Path) -> None:
    check_trace_configs(traces, cheap_config(), world_traces)
    with pytest.raises(AotdError, match="were made with config .* pass the config `aotd agent` ran with"):
        check_trace_configs(traces, Config(tools=ToolChoice(detection="cnn")), world_traces)


def test_run_cot_skips_a_truncated_line_and_resumes(world_traces: Path, tmp_path: Path) -> None:
    lines = world_traces.read_text().splitlines()
    damaged = tmp_path / "traces.jsonl"
    damaged.write_text("\n".join(lines[:30]) + "\n" + lines[30][:50])  # the agent was killed mid-line
    report, table, bad = run_cot(damaged, cheap_config(), tmp_path / "cots.jsonl", progress=False)
    assert report.written == 30 and len(bad) == 1 and bad[0].line == 31
    assert json.loads((tmp_path / "cots.table2.json").read_text()) == table
    damaged.write_text("\n".join(lines[:40]) + "\n")
    report, _, _ = run_cot(damaged, cheap_config(), tmp_path / "cots.jsonl", progress=False)
    assert (report.already_done, report.written) == (30, 10) and len(read_records(tmp_path / "cots.jsonl", CotRecord)) == 40


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from aotd.cli import main; main()", *args]


@pytest.mark.slow
def test_killed_cot_run_finishes_with_the_uninterrupted_bytes(world_traces: Path, tmp_path: Path) -> None:
    """A real SIGKILL in the middle of `aotd cot`, a restart, and the same lines as a clean run."""
    base = [json.loads(line) for line in world_traces.read_text().splitlines()]
    many = tmp_path / "traces.jsonl"
    with many.open("w") as f:  # enough records that the kill lands mid-run
        for i in range(150):
            for r in base:
                f.write(json.dumps({**r, "sample_id": f"{r['sample_id']}#{i}"}) + "\n")
    config = tmp_path / "cfg.yaml"
    save_config(cheap_config(), config)
    args = ["cot", "--traces", str(many), "--config", str(config), "--no-cache", "--workers", "2"]
    subprocess.run(_cli(*args, "--out", str(tmp_path / "clean.jsonl")), check=True, capture_output=True)
    killed = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(_cli(*args, "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while (not killed.exists() or killed.stat().st_size < 200_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(killed.read_text().splitlines())
    assert 0 < partial < len(base) * 150, "the kill should land mid-run"
    subprocess.run(_cli(*args, "--out", str(killed)), check=True, capture_output=True)
    assert sorted(killed.read_text().splitlines()) == sorted((tmp_path / "clean.jsonl").read_text().splitlines())
