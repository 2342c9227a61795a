"""Step 3's LLM roles: prompts, reply parsing, grounding kept, and failures against a real HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cheap_config
from fake_llm import FakeServer, running_server

from aotd.cot.llm import (
    LLMAnswerJudge,
    LLMConverter,
    LLMQualityJudge,
    clean_rationale,
    grounding_kept,
    parse_yes_no,
)
from aotd.cot.prompts import (
    ANSWER_INSTRUCTION,
    CONVERT_EXAMPLES,
    CONVERT_INSTRUCTION,
    MAX_ITEMS,
    QUALITY_INSTRUCTION,
    answer_messages,
    box_text,
    grounding_items,
    quality_messages,
    trace_text,
    window_text,
)
from aotd.cot.stage import build_cot
from aotd.cot.verify import NormalizedAnswer
from aotd.data.records import TraceRecord, read_records
from aotd.llm import CachedBackend, ReplyCache


# --- real traces: one world video, the rule planner, pixel-reading tools -----------------------
@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TraceRecord]:
    """A trace whose detect found boxes and one with action windows (~3 s of tools)."""
    from aotd.agent.build import build_planner, tool_factory
    from aotd.agent.run import run_sample
    from aotd.data.loaders import load_dataset
    from aotd.embedded.world.generate import WorldConfig, generate_world

    out = tmp_path_factory.mktemp("world1")
    generate_world(WorldConfig(out=out, videos=1, seed=11, workers=1), progress=False)
    samples = load_dataset("star", out).by_split("train")
    cfg = cheap_config()
    planner, tools = build_planner(cfg.planner), tool_factory(cfg)
    found: dict[str, TraceRecord] = {}
    order = [3, 5] + [i for i in range(len(samples)) if i not in (3, 5)]  # the fast ones for seed 11 first
    for i in order:
        t = run_sample(samples[i], planner, tools, isolate=False)
        calls = (t.sandbox or {}).get("calls") or []
        if t.failure:
            continue
        if "boxes" not in found and any(c["name"] == "detect" and c["output"] for c in calls):
            found["boxes"] = t
        elif "windows" not in found and any(c["name"] == "find_action" and c["output"] for c in calls) \
                and any(c["name"] == "recognize_actions" and c["output"] for c in calls):
            found["windows"] = t
        if len(found) == 2:
            return found
    pytest.fail(f"no traces with boxes and windows in the world: found {sorted(found)}")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with running_server() as fake:
        yield fake


def _boxes_and_windows(trace: TraceRecord) -> tuple[list[str], list[str]]:
    boxes, windows = [], []
    for c in (trace.sandbox or {}).get("calls") or []:
        if c["name"] == "detect":
            boxes += [box_text(b) for b in c["output"]]
        elif c["name"] == "find_action" and c["output"]:
            windows.append(window_text(c["output"]))
        elif c["name"] == "recognize_actions":
            windows += [window_text(a["window"]) for a in c["output"] if a["window"]]
    return boxes, windows


# --- prompts -----------------------------------------------------------------------------------
def test_trace_text_keeps_every_box_and_window_of_real_traces(traces: dict[str, TraceRecord]) -> None:
    for trace in traces.values():
        text = trace_text(trace)
        boxes, windows = _boxes_and_windows(trace)
        assert boxes or windows
        for item in boxes + windows:
            assert item in text
        assert text.startswith(f"Question: {trace.question}\nChoices: ")
        assert "1 | def execute_command" in text and text.endswith(f'Answer: "{trace.prediction}"')
        assert "line " in text and "video[0..31]" in text
        assert len(grounding_items(trace)) == len(set(boxes) | set(windows))
    assert len(_boxes_and_windows(traces["boxes"])[0]) > 10  # a real detection: a box in most frames


def test_convert_prompt_has_instruction_examples_then_the_trace(traces: dict[str, TraceRecord]) -> None:
    trace = traces["windows"]
    messages = LLMConverter(_Echo()).messages(trace)
    assert messages[0] == {"role": "system", "content": CONVERT_INSTRUCTION}
    assert "ALL bounding boxes" in CONVERT_INSTRUCTION and '"and so on"' in CONVERT_INSTRUCTION
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(CONVERT_EXAMPLES) + ["user"]
    assert messages[-1]["content"] == trace_text(trace)
    shown = "\n".join(m["content"] for m in messages[1:-1])
    for tool in ("detect(", "find_action(", "recognize_actions(", "query(", "trim("):
        assert tool in shown  # the examples cover boxes, windows, a query


def test_examples_keep_all_their_grounding_and_end_in_the_answer() -> None:
    for ex in CONVERT_EXAMPLES:
        assert grounding_kept(ex.trace(), ex.rationale) == 1.0
        assert ex.rationale.endswith(f"So the answer is: {ex.answer}".rstrip(".") + ".")
        assert "and so on" not in ex.rationale and "..." not in ex.rationale
    assert sum(len(grounding_items(ex.trace())) for ex in CONVERT_EXAMPLES) >= 8


def test_trace_text_caps_runaway_outputs_and_shows_errors() -> None:
    boxes = [{"frame": i % 32, "box": [i, 1.4, i + 10.6, 20], "label": "cup", "score": 0.5} for i in range(100)]
    calls = [{"name": "detect", "args": [{"video_id": "v", "frames": [0, 31], "count": 32}, "cup"], "kwargs": {},
              "output": boxes, "error": None, "line": 2},
             {"name": "find_action", "args": [{"video_id": "v", "frames": [0, 31], "count": 32}, "x" * 1000],
              "kwargs": {}, "output": None, "error": "ToolInputError: action is too long", "line": 3},
             {"name": "exists", "args": [], "kwargs": {"video": None, "name": "cup"}, "output": True, "error": None,
              "line": None}]
    trace = TraceRecord(sample_id="s", dataset="d", split="train", video_id="v", question="Q?", choices=[],
                        label=None, program="def f():\n    pass\n", planner="p", prediction="cup",
                        sandbox={"calls": calls})
    text = trace_text(trace)
    assert "100 boxes: [0, 1, 11, 20] in frame 0;" in text and f"{100 - MAX_ITEMS} more not shown" in text
    assert "[64, 1, 75, 20] in frame 0" not in text  # item 65 is past the cap
    assert "-> error: ToolInputError: action is too long" in text and "(1002 characters)" in text
    assert "exists(video=None, name=\"cup\") -> True" in text and "Choices: none" in text
    assert len(grounding_items(trace)) == MAX_ITEMS


def test_judge_prompts() -> None:
    messages = quality_messages("Q?", ["A.", "B."], "A.", "First, I look. So the answer is: A.")
    assert messages[0]["content"] == QUALITY_INSTRUCTION
    assert "step-by-step reasoning process" in QUALITY_INSTRUCTION and "key information" in QUALITY_INSTRUCTION
    assert "'Yes' or 'No' only" in QUALITY_INSTRUCTION
    assert {m["content"] for m in messages if m["role"] == "assistant"} == {"Yes", "No"}
    assert messages[-1]["content"] == ('Question: Q?\nChoices: ["A.", "B."]\nAnswer: A.\n'
                                       "Rationale: First, I look. So the answer is: A.")
    assert "Choices" not in quality_messages("Q?", [], "cup", "R.")[-1]["content"]
    messages = answer_messages("What?", "the cup", "a mug")
    assert messages[0]["content"] == ANSWER_INSTRUCTION and "format differences" in ANSWER_INSTRUCTION
    assert messages[-1]["content"] == "Question: What?\nCorrect answer: the cup\nPredicted answer: a mug"


# --- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "verdict"), [
    ("Yes", True), ("yes.", True), ("**No**", False), ("Answer: Yes", True), ("The answer is no.", False),
    ("Yes, because every step names its frames.", True), ("\n\n   Yes", True), ("YES!", True), ("'No'", False),
    ("No, the rationale skips the detection.", False), ("Final answer: **YES**", True), ("The answer is: No", False),
    ("Verdict - no", False), ("The rationale lists each step, so yes.", True), ("No.\nYes.", False),
    ("<think>It has steps... no, wait, yes.</think>\nNo", False), ("it lists steps, no gaps</think>Yes", True),
    ("Looks fine. Answer: No. Yes, it has boxes", False),
    ("Not sure", None), ("Yes and no", None), ("yes or no?", None), ("Yes/No", None), ("No idea", None),
    ("Maybe.", None), ("I cannot tell.", None), ("", None), ("  \n", None), ("<think>still thinking, no", None),
    ("The steps say no and then yes.", None), ("nope", None), ("The rationale is good.", None),
    ("Answer: yes. Verdict: no.", None),
])
def test_parse_yes_no(reply: str, verdict: bool | None) -> None:
    assert parse_yes_no(reply) is verdict


@pytest.mark.parametrize(("reply", "clean"), [
    ("First, I look.  Then I see.\n\nSo the answer is: A.", "First, I look. Then I see. So the answer is: A."),
    ("Here is the rationale:\n\n```\nFirst, I look.\n```\nLet me know if you need more.", "First, I look."),
    ("Sure! Here's the chain of thought: **First**, I look.", "First, I look."),
    ("Rationale: 1. First I look.\n2. Then I see.", "First I look. Then I see."),
    ("<think>plan</think>\nFirst, I look.", "First, I look."),
    ("<think>plan</think>", ""), ("```text\n```", ""),
])
def test_clean_rationale(reply: str, clean: str) -> None:
    assert clean_rationale(reply) == clean


def test_grounding_kept_counts_boxes_and_windows() -> None:
    trace = CONVERT_EXAMPLES[0].trace()  # 4 boxes (frames 9-12) and 2 windows
    assert grounding_kept(trace, "I see the cup at [140, 88, 172, 120] in frame 9; put down from frame 10 to frame 12.") \
        == pytest.approx(2 / 6)
    assert grounding_kept(trace, "In frame 10 it is at (141.0, 90.3, 172.1, 121.9); held in frames 9-10.") \
        == pytest.approx(2 / 6)
    assert grounding_kept(trace, "[140, 88, 172, 120] in frame 11, and so on.") == 0.0  # right box, wrong frame
    assert grounding_kept(CONVERT_EXAMPLES[2].trace(), "anything") == 1.0  # nothing to keep


def test_real_rationale_grounding(traces: dict[str, TraceRecord]) -> None:
    trace = traces["boxes"]
    boxes, windows = _boxes_and_windows(trace)
    assert grounding_kept(trace, " ".join(boxes + windows)) == 1.0
    assert grounding_kept(trace, " ".join(boxes[:1])) == pytest.approx(1 / len(grounding_items(trace)))


# --- against a server ---------------------------------------------------------------------------
class _Echo:
    name, model = "echo", "echo"

    def complete(self, messages: list[dict[str, str]], **kwargs: object) -> str:
        return "Yes"


GOOD = "Here is the rationale:\nFirst, I find the action from frame 2 to frame 5.\nSo the answer is: {answer}"


def test_converter_good_reply_and_request(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    trace = traces["windows"]
    server.script = ["reply:" + GOOD.format(answer=trace.prediction)]
    converter = LLMConverter(server.backend(), max_tokens=900)
    conv = converter.convert(trace)
    assert conv.error is None and conv.method == converter.name == "llm:tiny-model"
    assert conv.rationale == f"First, I find the action from frame 2 to frame 5. So the answer is: {trace.prediction}"
    assert conv.reply == GOOD.format(answer=trace.prediction)
    (request,) = server.requests
    assert request["messages"] == converter.messages(trace) and request["max_tokens"] == 900
    assert request["temperature"] == 0.0


def test_converter_retries_a_500_then_succeeds(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    server.script = ["500", "reply:First, I look. So the answer is: A."]
    conv = LLMConverter(server.backend()).convert(traces["windows"])
    assert conv.rationale == "First, I look. So the answer is: A." and len(server.requests) == 2


def test_persistent_500_is_a_recorded_failure(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    server.script = ["500"]
    backend = server.backend(max_retries=1)
    conv = LLMConverter(backend).convert(traces["windows"])
    assert conv.rationale is None and conv.error.startswith("llm error: ") and "HTTP 500" in conv.error
    verdict = LLMQualityJudge(backend).judge("Q?", ["A."], "A.", "First, I look. So the answer is: A.")
    assert verdict.passed is None and verdict.reason.startswith("llm error: ") and verdict.method == "llm:tiny-model"
    verdict = LLMAnswerJudge(backend).check("Q?", "the cup", "a mug")
    assert verdict.passed is None and "HTTP 500" in verdict.reason
    assert len(server.requests) == 6  # two attempts per sample, then given up
    record = build_cot(traces["windows"], LLMConverter(backend), LLMQualityJudge(backend), NormalizedAnswer())
    assert record.failure == "convert:llm_error" and not record.kept and "HTTP 500" in record.error


def test_timeout_is_a_recorded_failure(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    server.script = ["hang"]
    backend = server.backend(timeout_s=0.2, max_retries=1)
    start = time.monotonic()
    conv = LLMConverter(backend).convert(traces["windows"])
    verdict = LLMQualityJudge(backend).judge("Q?", ["A."], "A.", "R.")
    assert time.monotonic() - start < 3.0
    assert conv.rationale is None and "timed out" in conv.error
    assert verdict.passed is None and "timed out" in verdict.reason


def test_nonsense_replies(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    server.script = ["reply:The rationale talks about a cat.", "reply:banana", "reply:   ", "garbage",
                     "reply:First, I look for the dish and find it at [1, 2, 3, 4] in"]
    backend = server.backend()
    verdict = LLMQualityJudge(backend).judge("Q?", ["A."], "A.", "R.")
    assert (verdict.passed, verdict.reason, verdict.reply) == (None, "unparsable reply", "The rationale talks about a cat.")
    verdict = LLMAnswerJudge(backend).check("Q?", "the cup", "a mug")
    assert (verdict.passed, verdict.reason, verdict.reply) == (None, "unparsable reply", "banana")
    conv = LLMConverter(backend).convert(traces["windows"])
    assert (conv.rationale, conv.error, conv.reply) == (None, "empty reply", "   ")
    conv = LLMConverter(backend).convert(traces["windows"])
    assert conv.rationale is None and "not JSON" in conv.error
    conv = LLMConverter(backend).convert(traces["windows"])
    assert conv.rationale is None and conv.error.startswith("truncated reply")


def test_judges_yes_and_no(server: FakeServer) -> None:
    server.script = ["reply:Yes.", "reply:**No**", "reply:Answer: yes"]
    backend = server.backend()
    judge = LLMQualityJudge(backend)
    assert judge.judge("Q?", ["A."], "A.", "R.").passed is True
    verdict = judge.judge("Q?", ["A."], "A.", "R.")
    assert (verdict.passed, verdict.reason, verdict.reply) == (False, "judged No", "**No**")
    answer = LLMAnswerJudge(backend)
    assert answer.check("What?", "threw the towel", "tossed it").passed is True
    assert answer.check("What?", "The towel.", "towel") == NormalizedAnswer().check("", "towel", "towel").model_copy(
        update={"method": "normalized"})  # equal after normalising: no request
    assert answer.check("What?", "the towel", "  ").passed is False
    assert len(server.requests) == 3 and server.requests[0]["max_tokens"] == 64


def test_reply_cache_serves_the_second_call(server: FakeServer, traces: dict[str, TraceRecord], tmp_path: Path) -> None:
    server.script = ["reply:First, I look. So the answer is: A.", "500"]
    cached = CachedBackend(server.backend(max_retries=0), ReplyCache(tmp_path))
    converter = LLMConverter(cached)
    first = converter.convert(traces["windows"])
    second = converter.convert(traces["windows"])
    assert first == second and first.rationale == "First, I look. So the answer is: A."
    assert (cached.hits, cached.misses, len(server.requests)) == (1, 1, 1)
    assert converter.name == "llm:tiny-model"


def test_llm_rationales_pass_through_build_cot(server: FakeServer, traces: dict[str, TraceRecord]) -> None:
    trace = traces["windows"].model_copy(update={"label": traces["windows"].prediction})  # a right answer
    server.script = [f"reply:First, I look from frame 1 to frame 4. Then I see it. So the answer is: {trace.prediction}",
                     "reply:Yes"]
    backend = server.backend()
    record = build_cot(trace, LLMConverter(backend), LLMQualityJudge(backend), LLMAnswerJudge(backend))
    assert record.converter == "llm:tiny-model" and record.rationale.endswith(str(trace.prediction))
    assert record.answer.passed and record.quality.passed and record.kept and record.quality.reply == "Yes"
    assert record.failure is None and len(server.requests) == 2


def test_cot_stage_with_an_llm_records_each_outcome(server: FakeServer, world_traces: Path, tmp_path: Path) -> None:
    """The configured LLM converts and judges; a server that keeps failing fails only its sample."""
    from aotd.config import CotConfig
    from aotd.cot.stage import run_cot
    from aotd.data.records import CotRecord

    traces = [t for t in read_records(world_traces, TraceRecord) if t.correct][:2]
    subset = tmp_path / "traces.jsonl"
    subset.write_text("".join(t.model_dump_json() + "\n" for t in traces))
    cfg = cheap_config().model_copy(update={"cot": CotConfig(
        converter="llm", judge="llm", backend="openai", model="tiny-model", base_url=server.url,
        timeout_s=2, max_retries=1)})
    rationale = f"First, I look at frames 0 to 31. Then, I check [1, 2, 3, 4] in frame 5. So the answer is: {traces[0].prediction}"
    server.script = [f"reply:{rationale}", "reply:**Yes**", "500", "500"]
    report, table, _ = run_cot(subset, cfg, tmp_path / "cots.jsonl", cache_dir=tmp_path / "cache", progress=False)
    good, bad = read_records(tmp_path / "cots.jsonl", CotRecord)
    assert good.converter == "llm:tiny-model" and good.rationale == rationale and good.quality.passed and good.kept
    assert good.quality.method == "llm:tiny-model" and good.provenance["llm"] == "tiny-model"
    assert bad.failure == "convert:llm_error" and bad.rationale is None and not bad.kept
    assert report.written == 2 and table["rejections"] == {"convert:llm_error": 1}
    assert len(server.requests) == 4  # one conversion, one judgement, one request and one retry
