"""Step 4's metrics: option parsing, open-ended judging, accuracy tables and rationale grounding (Table 7)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fake_llm import running_server

from aotd.cot.convert import RuleConverter
from aotd.cot.prompts import CONVERT_EXAMPLES, grounding_items
from aotd.data.records import TraceRecord
from aotd.data.sampling import SampledFrames
from aotd.data.schema import QASample, Situation, VideoInfo
from aotd.embedded.world.vocab import action_id, object_id, world_classes
from aotd.eval import (
    GroundTruth,
    LLMScoreJudge,
    PredBox,
    accuracy_summary,
    box_scores,
    ground_truth,
    grounding_summary,
    judge_messages,
    normalized_match,
    parse_grounding,
    parse_judge_reply,
    parse_option,
    sample_source_indices,
    score_grounding,
    temporal_scores,
)
from aotd.llm.base import LLMError, Message
from aotd.select.actions import gt_window, ids_window
from aotd.tools.clip import Clip
from aotd.tools.types import Window

CHOICES = ["Took the cup.", "Put down the cup.", "Opened the door.", "Threw the towel."]


# --- parse_option ------------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "index"), [
    ("B", 1), ("b", 1), ("(B)", 1), ("(b)", 1), ("B.", 1), ("[C]", 2), (" D ", 3),
    ("B) Put down the cup.", 1), ("C. Opened the door.", 2), ("A: Took the cup", 0),
    ("The answer is B", 1), ("The answer is B.", 1), ("Answer: (c)", 2), ("answer: c", 2),
    ("Option D", 3), ("The best option is (A).", 0), ("**B**", 1), ("I pick (b) because the cup goes down.", 1),
    ("<think>It could be A or C.</think>C", 2), ("Answer: C\n", 2),
])
def test_parse_option_reads_letters(reply: str, index: int) -> None:
    parsed = parse_option(reply, CHOICES, rng_seed="q1")
    assert (parsed.index, parsed.method, parsed.fallback) == (index, "letter", False)
    assert parsed.letter == "ABCD"[index]


@pytest.mark.parametrize(("reply", "index"), [
    ("Put down the cup.", 1), ("put down the cup", 1), ("PUT DOWN THE CUP!", 1), ("took cup", 0),
    ("Take the cup", 0),  # equal after normalize (verb forms folded)
    ("I think the person opened the door.", 2), ("The person threw the towel to the floor.", 3),
    ("They took the cup from the table", 0),
])
def test_parse_option_reads_option_text(reply: str, index: int) -> None:
    parsed = parse_option(reply, CHOICES, rng_seed="q1")
    assert (parsed.index, parsed.method) == (index, "text")


def test_parse_option_prefers_the_longer_option_that_contains_a_shorter_one() -> None:
    choices = ["The cup.", "The paper cup.", "The book."]
    assert parse_option("I saw the paper cup.", choices, rng_seed=0).index == 1
    assert parse_option("the cup", choices, rng_seed=0).index == 0


@pytest.mark.parametrize("reply", [
    "", "   ", "I don't know.", "E", "The answer is E.",  # a letter out of range is no answer
    "The answer is a cup.",  # "a" here is an article, not option A
    "Either took the cup or opened the door.",  # two options fit: ambiguous
    "the cup",  # a shared word names no option
])
def test_parse_option_falls_back_with_a_seeded_pick(reply: str) -> None:
    parsed = parse_option(reply, CHOICES, rng_seed="Interaction_T1_7")
    assert parsed.method == "fallback" and parsed.fallback
    assert 0 <= parsed.index < len(CHOICES)


def test_fallback_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    picks = [parse_option("no idea", CHOICES, rng_seed=f"q{i}").index for i in range(40)]
    again = [parse_option("???", CHOICES, rng_seed=f"q{i}").index for i in range(40)]
    assert picks == again  # the seed alone decides, not the reply or the call
    assert len(set(picks)) == len(CHOICES)
    assert parse_option("", CHOICES, rng_seed=7) == parse_option("", CHOICES, rng_seed=7)
    with pytest.raises(ValueError):
        parse_option("A", [], rng_seed=0)


# --- open-ended --------------------------------------------------------------------------------
def test_normalized_match() -> None:
    assert normalized_match("Took the book.", "take book")
    assert normalized_match("threw the towel", "Throw towel")
    assert not normalized_match("the door", "the window")
    assert not normalized_match("", "")
    assert not normalized_match("the", "a")  # nothing left after normalizing is never a match


@pytest.mark.parametrize(("reply", "expected"), [
    ("{'pred': 'yes', 'score': 4}", (True, 4.0)),
    ('{"pred": "no", "score": 1}', (False, 1.0)),
    ("{'pred': 'yes', 'score': 4.8}", (True, 4.8)),
    ('```json\n{"pred": "yes", "score": 5}\n```', (True, 5.0)),
    ("Sure! Here is my evaluation: {'pred': 'no', 'score': 0}", (False, 0.0)),
    ("<think>The answer says yes maybe.</think>{'pred': 'no', 'score': 2}", (False, 2.0)),
    ("{'pred': 'YES', 'score': '3'}", (True, 3.0)),
    ("{'Pred': True, 'Score': 5}", (True, 5.0)),
    ("{'pred': 'yes', 'score': 4", (True, 4.0)),  # cut off before the closing brace
    ("pred: no, score: 1", (False, 1.0)),
    ("Yes. Score: 4/5", (True, 4.0)),
    ("No, the predicted answer names another object. Score 1 out of 5.", (False, 1.0)),
    ("The prediction is incorrect; score: 0", (False, 0.0)),
    ("The prediction is correct.", (True, None)),
    ("yes", (True, None)),
    ("{'pred': 'yes', 'score': 9}", (True, None)),  # a score outside 0-5 is no score
    ("{'pred': 'maybe', 'score': 3}", (None, 3.0)),
    ("I cannot evaluate this.", (None, None)),
    ("", (None, None)),
    ("yes or no?", (None, None)),
])
def test_parse_judge_reply(reply: str, expected: tuple[bool | None, float | None]) -> None:
    assert parse_judge_reply(reply) == expected


class ScriptedBackend:
    """An ``LLMBackend`` that answers from a list; an ``LLMError`` in the list is raised."""

    name = "scripted"
    model = "judge-8b"

    def __init__(self, replies: list[str | LLMError]) -> None:
        self.replies, self.requests = list(replies), []

    def complete(self, messages: list[Message], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        self.requests.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, LLMError):
            raise reply
        return reply


def test_llm_answer_judge_scores_and_names_its_model() -> None:
    backend = ScriptedBackend(["{'pred': 'yes', 'score': 4}", "It is hard to say.", LLMError("server down"),
                               "{'pred': 'no', 'score': 1}"])
    judge = LLMScoreJudge(backend)
    ok = judge.score("What did the person open?", "the door", "Opened the door")
    assert (ok.correct, ok.score, ok.method, ok.error, ok.parsed) == (True, 4.0, "llm:judge-8b", None, True)
    assert ok.reply == "{'pred': 'yes', 'score': 4}"
    user = backend.requests[0][-1]["content"]
    assert "Correct Answer: the door" in user and "Predicted Answer: Opened the door" in user
    assert "'pred'" in user and "{'pred': 'yes', 'score': 4}" in user  # the literal braces survive formatting
    unparsable = judge.score("q", "the door", "the box")
    assert (unparsable.correct, unparsable.error, unparsable.parsed) == (None, "unparsable reply", False)
    assert unparsable.reply == "It is hard to say." and unparsable.method == "llm:judge-8b"
    failed = judge.score("q", "the door", "the box")
    assert failed.correct is None and failed.error is not None and failed.error.startswith("llm error")
    assert not judge.score("q", "the door", "the door").correct  # every answer is sent, even an equal one
    assert len(backend.requests) == 4


def test_llm_answer_judge_shortcut_skips_equal_answers() -> None:
    backend = ScriptedBackend([])
    result = LLMScoreJudge(backend, shortcut=True).score("q", "threw the towel", "Throw towel.")
    assert (result.correct, result.score, result.method) == (True, 5.0, "normalized")
    assert backend.requests == []


def test_llm_answer_judge_over_http() -> None:
    with running_server() as fake:
        fake.script = ["reply:{'pred': 'yes', 'score': 5}"]
        result = LLMScoreJudge(fake.backend()).score("What did the person take?", "the cup", "a cup")
    assert (result.correct, result.score, result.method) == (True, 5.0, "llm:tiny-model")
    assert fake.requests[0]["messages"] == judge_messages("What did the person take?", "the cup", "a cup")


# --- accuracy ----------------------------------------------------------------------------------
@dataclass
class Row:
    question_type: str
    correct: bool | None
    fallback: bool = False
    score: float | None = None


def test_accuracy_summary_overall_and_per_type() -> None:
    rows = [Row("Interaction", True), Row("Interaction", False, fallback=True), Row("Interaction", True, True),
            Row("Sequence", None), Row("Sequence", True, score=4.0),
            {"question_type": "Sequence", "correct": False, "score": 1.0}, {"correct": True}]
    summary = accuracy_summary(rows)
    o = summary.overall
    assert (o.n, o.correct, o.scored, o.unscored, o.fallbacks) == (7, 4, 6, 1, 2)
    assert o.accuracy == pytest.approx(4 / 7)  # the unscored row counts as wrong
    assert o.mean_score == pytest.approx(2.5)
    inter, seq = summary.per_type["Interaction"], summary.per_type["Sequence"]
    assert (inter.n, inter.correct, inter.fallbacks, inter.accuracy) == (3, 2, 2, pytest.approx(2 / 3))
    assert (seq.n, seq.correct, seq.unscored, seq.accuracy) == (3, 1, 1, pytest.approx(1 / 3))
    assert summary.per_type["unknown"].n == 1
    js = summary.to_json()
    assert js["overall"]["fallbacks"] == 2 and js["per_type"]["Interaction"]["mean_score"] is None
    assert accuracy_summary([]).overall.accuracy == 0.0


# --- grounding: parsing ------------------------------------------------------------------------
def _trace(calls: list[dict], prediction: str = "Put down.") -> TraceRecord:
    return TraceRecord(sample_id="s", dataset="star", split="val", video_id="v", question="q?", choices=[],
                       label=None, planner="rules", prediction=prediction,
                       sandbox={"ok": True, "value": prediction, "calls": calls})


def test_parse_grounding_of_rule_converter_rationales() -> None:
    rationale = RuleConverter().convert(CONVERT_EXAMPLES[0].trace()).rationale
    assert rationale is not None and "from frame 10 to frame 12" in rationale
    g = parse_grounding(rationale)
    assert g.action_windows() == [Window(10, 12), Window(9, 10)]
    assert [(w.start, w.end, w.kind) for w in g.windows if w.kind == "span"] == [(9, 12, "span")]
    assert [(b.frame, b.box) for b in g.boxes] == [(9, (140, 88, 172, 120)), (11, (151, 102, 180, 133)),
                                                   (12, (158, 110, 189, 142))]
    assert g.invalid == ()
    clip = {"video_id": "v", "frames": [0, 31], "count": 32}
    seen = _trace([{"name": "find_object", "args": [clip, "book"], "output": [0, 1, 2, 5, 6, 9], "line": 2},
                   {"name": "find_object", "args": [clip, "cup"], "output": [14], "line": 3}])
    text = RuleConverter().convert(seen).rationale
    assert "frames 0 to 2, 5 to 6 and 9" in text and "frame 14" in text
    assert [(w.start, w.end) for w in parse_grounding(text).windows] == [(0, 2), (5, 6), (9, 9), (14, 14)]


def test_parse_grounding_keeps_every_item_of_the_llm_examples() -> None:
    for ex in CONVERT_EXAMPLES:
        g = parse_grounding(ex.rationale)
        found = {("box", (b.frame, *(round(v) for v in b.box))) for b in g.boxes}
        found |= {("window", (w.start, w.end)) for w in g.action_windows()}
        assert set(grounding_items(ex.trace())) <= found


@pytest.mark.parametrize(("text", "windows", "boxes"), [
    ("I find it from frames 3-7.", [(3, 7, "action")], []),
    ("It happens between frame 4 and frame 8.", [(4, 8, "action")], []),
    ("from frame 5 through frame 6", [(5, 6, "action")], []),
    ("The cup is seen in frames 10 through 12 & 20.", [(10, 12, "span"), (20, 20, "span")], []),
    ("I look at frames 0 to 21 and ask which object was taken.", [(0, 21, "span")], []),
    ("frames 1,2 and 4", [(1, 1, "span"), (2, 2, "span"), (4, 4, "span")], []),
    ("frames 10-12 and 14", [(10, 12, "span"), (14, 14, "span")], []),
    ("at frame 13.5 of the clip", [], []),  # not a frame id
    ("In frame 14 at [1, 2, 30, 40] there is a cup.", [], [(14, (1, 2, 30, 40))]),
    ("The cup is at [1, 2, 30, 40].", [], [(None, (1, 2, 30, 40))]),
    ("the box (10.5, 20, 30.25, 40) in frame 3", [], [(3, (10.5, 20, 30.25, 40))]),
    ("at [1, 2, 30, 40] in frame 9 and [2, 3, 31, 41] in frame 10, from frame 9 to frame 10",
     [(9, 10, "action")], [(9, (1, 2, 30, 40)), (10, (2, 3, 31, 41))]),
    ("from frame 2 to frame 4; again from frame 2 to frame 4", [(2, 4, "action")], []),  # each item once
    ("", [], []),
    ("Nothing is grounded here, it has 3 cups.", [], []),
])
def test_parse_grounding_forms(text: str, windows: list[tuple], boxes: list[tuple]) -> None:
    g = parse_grounding(text)
    assert [(w.start, w.end, w.kind) for w in g.windows] == windows
    assert [(b.frame, b.box) for b in g.boxes] == boxes
    assert g.empty == (not windows and not boxes)


def test_parse_grounding_reports_what_cannot_be_grounding() -> None:
    g = parse_grounding("from frame 40 to frame 45, from frame 18 to frame 12, [30, 2, 10, 40] in frame 3, "
                        "[1, 2, 3, 4] in frame 32, frame 32 and from frame 1 to frame 2")
    assert g.action_windows() == [Window(1, 2)] and g.boxes == ()
    assert len(g.invalid) == 5


# --- grounding: scores -------------------------------------------------------------------------
def test_temporal_iou_hand_computed() -> None:
    assert Window(10, 12).iou(Window(9, 12)) == pytest.approx(3 / 4)
    assert Window(0, 3).iou(Window(2, 7)) == pytest.approx(2 / 8)
    s = temporal_scores([Window(10, 12), Window(0, 3), Window(20, 21)], [Window(9, 12), Window(2, 7)])
    assert s.ious == pytest.approx((0.75, 0.25, 0.0))
    assert s.mean_iou == pytest.approx(1 / 3) and s.recall_at_05 == pytest.approx(1 / 3)
    assert (s.gt, s.gt_found) == (2, 1)
    assert temporal_scores([Window(1, 2)], []).ious == (0.0,)
    assert temporal_scores([], [Window(1, 2)]).mean_iou == 0.0


def test_box_iou_hand_computed() -> None:
    truth = {3: (("cup", (5.0, 5.0, 15.0, 15.0)), ("book", (100.0, 100.0, 120.0, 120.0))), 4: ()}
    preds = [PredBox(3, 0, 0, 10, 10), PredBox(3, 100, 100, 120, 120), PredBox(4, 0, 0, 1, 1),
             PredBox(None, 0, 0, 10, 10), PredBox(9, 0, 0, 10, 10)]
    s = box_scores(preds, truth)
    assert s.ious == pytest.approx((25 / 175, 1.0, 0.0))  # best match per frame; annotated-but-empty frame: 0
    assert (s.frameless, s.unannotated) == (1, 1)
    assert box_scores([PredBox(0, 0, 0, 10, 10)], {0: [(0.0, 0.0, 10.0, 20.0)]}).ious == (0.5,)  # bare boxes


def test_score_grounding_and_summary() -> None:
    truth = GroundTruth(windows=(("take book", Window(9, 12)), ("put book", Window(20, 25))),
                        boxes={9: (("book", (140.0, 88.0, 172.0, 120.0)),)})
    g = parse_grounding("I see the book at [140, 88, 172, 120] in frame 9 and [0, 0, 4, 4]. I watch frames 0 to 8. "
                        "The person takes it from frame 10 to frame 12, then puts it down from frame 30 to frame 31.")
    s = score_grounding(g, truth)
    assert s.temporal.ious == pytest.approx((0.75, 0.0))
    assert s.spatial.ious == (1.0,) and s.spatial.frameless == 1
    assert score_grounding(g, truth, windows="all").temporal.ious == pytest.approx((0.75, 0.0, 0.0))
    nothing = score_grounding(parse_grounding("So the answer is: the book."), truth)
    summary = grounding_summary([s, nothing])
    assert summary["rationales"] == 2 and summary["with_windows"] == 1 and summary["with_boxes"] == 1
    assert summary["temporal_iou"] == pytest.approx(0.375) and summary["recall_at_0.5"] == pytest.approx(0.5)
    assert summary["gt_windows"] == 4 and summary["gt_found_at_0.5"] == pytest.approx(0.25)
    assert summary["spatial_iou"] == 1.0 and summary["frameless_boxes"] == 1
    empty = grounding_summary([nothing])
    assert empty["temporal_iou"] is None and empty["spatial_iou"] is None  # "✗", not 0


# --- grounding: ground truth from a STAR-format sample -----------------------------------------
def _star_sample() -> QASample:
    """64 source frames (fps 10, window 0-6.3 s), key frames every 3rd frame; the person takes the
    book at key frames 9..21 and puts it down at 60..63; a Prediction-style extra key frame at 90."""
    take, put = action_id("take", "book"), action_id("put", "book")
    book, person = object_id("book"), object_id("person")
    situations = {}
    for k in [*range(0, 64, 3), 90]:
        acts = [take] if 9 <= k <= 21 else [put] if k >= 60 else []
        situations[f"{k:06d}"] = Situation(frame=k, actions=acts, bbox=[[k, 10, k + 20, 30], [0, 0, 50, 100]],
                                           bbox_labels=[book, person])
    return QASample(sample_id="Interaction_T1_1", dataset="star", split="val", video=VideoInfo(video_id="V0001"),
                    question="Which object was taken by the person?", situations=situations, start=0.0, end=6.3)


def test_ground_truth_of_a_star_sample() -> None:
    sample = _star_sample()
    source = sample_source_indices(sample, num_frames=200, fps=10)
    assert len(source) == 32 and source[:6] == [0, 2, 4, 6, 8, 10] and source[-2:] == [61, 63]
    classes = world_classes()
    from_situations = ground_truth(sample, source, 10, classes)
    assert [(label, w.start, w.end) for label, w in from_situations.windows] == [
        ("take book", 5, 10), ("put book", 30, 31)]  # src 10..20 and 61..63; key frame 90 lies outside
    take, put = action_id("take", "book"), action_id("put", "book")
    videos_json = [[take, 0.9, 2.2], [put, 6.0, 7.0], [take, 7.5, 8.0]]
    from_videos = ground_truth(sample, source, 10, classes, video_actions=videos_json)
    assert [(label, w.start, w.end) for label, w in from_videos.windows] == [("take book", 5, 10), ("put book", 30, 31)]
    assert sorted(from_videos.boxes) == list(range(32))  # every id has a key frame within 2 source frames
    assert from_videos.boxes[1] == (("book", (3.0, 10.0, 23.0, 30.0)),)  # src 2 -> key frame 3; person left out
    exact = ground_truth(sample, source, 10, classes, max_gap=0)
    assert sorted(exact.boxes) == [i for i, s in enumerate(source) if s % 3 == 0]
    with_person = ground_truth(sample, source, 10, classes, exclude=frozenset())
    assert [name for name, _ in with_person.boxes[0]] == ["book", "person"]


def test_ids_window_is_step_one_mapping() -> None:
    import numpy as np

    source = [0, 10, 20, 30]
    sampled = SampledFrames(np.zeros((4, 2, 2, 3), np.uint8), source, fps=10.0)
    clip = Clip(sampled, "v")
    assert gt_window(clip, 0.5, 2.1) == ids_window(source, 5, 20) == Window(1, 2)
    assert gt_window(clip, 0.4, 0.6) == Window(sampled.nearest_id(5), sampled.nearest_id(5))  # none inside
