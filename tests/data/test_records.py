"""The records every step writes and their one reader: bad lines named and skipped (or raised),
a CoT record that holds its trace once, and files written by older versions still loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aotd.data.records import BadLine, CotRecord, JsonlError, TraceRecord, TrainRecord, Verdict, read_records

TRACE = TraceRecord(sample_id="Interaction_T1_1", dataset="star", split="train", video_id="V1", question_type="Interaction",
                    question="Which object was taken by the person?", choices=["The cup.", "The book."],
                    label="The cup.", planner="rules", prediction="The cup.", correct=True, frames=[0, 5])


def test_a_cot_record_holds_its_trace_once_and_reads_the_question_through_it() -> None:
    cot = CotRecord(sample_id=TRACE.sample_id, trace=TRACE, rationale="First, ...", kept=True,
                    answer=Verdict(passed=True, method="exact"))
    line = json.loads(cot.model_dump_json())
    assert "question" not in line and line["trace"]["question"] == TRACE.question
    assert (cot.question, cot.choices, cot.label, cot.prediction) == (TRACE.question, TRACE.choices, "The cup.", "The cup.")
    assert (cot.dataset, cot.split, cot.video_id, cot.question_type) == ("star", "train", "V1", "Interaction")


def test_a_cot_line_written_before_the_change_still_loads(tmp_path: Path) -> None:
    """CoT records used to repeat nine of their trace's fields at the top level."""
    old = {"sample_id": TRACE.sample_id, "dataset": "star", "split": "train", "video_id": "V1",
           "question_type": "Interaction", "question": TRACE.question, "choices": TRACE.choices, "label": "The cup.",
           "prediction": "The cup.", "rationale": "First, ...", "converter": "rules", "kept": True,
           "answer": {"passed": True, "method": "exact"}, "trace": json.loads(TRACE.model_dump_json()),
           "provenance": {"config": "abc"}}
    path = tmp_path / "cots.jsonl"
    path.write_text(json.dumps(old) + "\n")
    [cot] = read_records(path, CotRecord)
    assert cot.kept and cot.question == TRACE.question and cot.provenance == {"config": "abc"}


def test_every_kind_of_bad_line_is_named_and_skipped_or_raised(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    good = TRACE.model_dump_json()
    path.write_text("\n".join([good, '{"sample_id": "x", "dataset"', "[1, 2]", '{"sample_id": "y"}', "", good]) + "\n")
    bad: list[BadLine] = []
    records = read_records(path, TraceRecord, bad)
    assert [r.sample_id for r in records] == [TRACE.sample_id] * 2
    assert [(b.line, b.reason.split(":")[0]) for b in bad] == [
        (2, "truncated or malformed JSON"), (3, "not a trace record (no sample_id)"), (4, "sample y is not a trace record")]
    assert str(bad[2]).startswith(f"{path}:4: sample y is not a trace record: field 'dataset'")
    with pytest.raises(JsonlError, match=r"traces.jsonl:2: truncated or malformed JSON"):
        read_records(path, TraceRecord)
    with pytest.raises(JsonlError, match="records file not found"):
        read_records(tmp_path / "missing.jsonl", TraceRecord)


def test_a_chooser_reads_mixed_files_and_a_limit_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    cot = CotRecord(sample_id=TRACE.sample_id, trace=TRACE)
    path.write_text("\n".join([cot.model_dump_json(), TRACE.model_dump_json(), TRACE.model_dump_json()]) + "\n")
    records = read_records(path, lambda raw: CotRecord if "trace" in raw else TraceRecord)
    assert [type(r) for r in records] == [CotRecord, TraceRecord, TraceRecord]
    assert len(read_records(path, lambda raw: CotRecord if "trace" in raw else TraceRecord, limit=2)) == 2
    bad: list[BadLine] = []
    assert read_records(path, TrainRecord, bad) == [] and len(bad) == 3  # not training records
