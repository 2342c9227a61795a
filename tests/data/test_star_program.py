"""The STAR operator executor: each operator, STAR's quirks, errors, and sample judging."""

from __future__ import annotations

import pytest

from aotd.data.schema import Choice, ProgramStep, QASample, Situation, VideoInfo
from aotd.data.star_classes import StarClasses
from aotd.data.star_program import StarProgramError, StarProgramExecutor, check_sample, normalize

CLASSES = StarClasses(
    objects={"o000": "person", "o001": "book", "o002": "cup/glass/bottle", "o003": "refrigerator"},
    verbs={"v000": "take", "v001": "put", "v002": "open"},
    relationships={"r000": "holding", "r001": "in_front_of"},
    actions={"a000": "Taking a book", "a001": "Putting a book somewhere", "a002": "Taking a cup",
             "a003": "Opening a refrigerator"},
    action_map={"a000": ("v000", "o001"), "a001": ("v001", "o001"), "a002": ("v000", "o002"), "a003": ("v002", "o003")},
)


def sit(frame: int, actions: list[str], objs: list[str], rels: list[tuple[str, str]] = ()) -> Situation:
    return Situation(frame=frame, actions=actions, bbox=[[0, 0, 1, 1]] * len(objs), bbox_labels=objs,
                     rel_pairs=[["o000", o] for o, _ in rels], rel_labels=[r for _, r in rels])


# take book (frames 10-20) -> open fridge while holding the book (30) -> put book (40) -> take cup (50)
SITUATIONS = {
    "000050": sit(50, ["a002"], ["o002", "o003"]),
    "000010": sit(10, ["a000"], ["o001", "o002"]),
    "000020": sit(20, ["a000"], ["o001", "o002"], [("o001", "r000")]),
    "000030": sit(30, ["a003"], ["o001", "o003"], [("o001", "r000"), ("o003", "r001")]),
    "000040": sit(40, ["a001"], ["o001", "o002"]),
}


def P(function: str, *values: object) -> dict:
    return {"function": function, "value_input": list(values)}


@pytest.fixture
def ex() -> StarProgramExecutor:
    return StarProgramExecutor(SITUATIONS, CLASSES)


def ref(verb: str, obj: str) -> list[dict]:
    return [P("Situations"), P("Actions"), P("Filter_Actions_with_Verb", verb), P("Filter_Actions_with_Obj", obj), P("Unique")]


def test_actions_in_order_of_first_appearance_over_sorted_frames(ex):
    assert ex.answer([P("Situations"), P("Actions")]) == ["a000", "a003", "a001", "a002"]


def test_interaction_which_object_was_taken_first(ex):
    prog = [P("Situations"), P("Actions"), P("Filter_Actions_with_Verb", "take"), P("Unique"), P("Query_Objs")]
    assert ex.answer(prog) == "book"


def test_filter_situations_with_obj_then_query_verbs(ex):
    prog = [P("Situations"), P("Filter_Situations_with_Obj", "refrigerator"), P("Actions"),
            P("Filter_Actions_with_Obj", "refrigerator"), P("Unique"), P("Query_Verbs")]
    assert ex.answer(prog) == "open"


def test_filter_situations_with_rel_and_query_actions(ex):
    prog = [P("Situations"), P("Filter_Situations_with_Rel", "holding"), P("Filter_Situations_with_Obj", "refrigerator"),
            P("Actions"), P("Unique"), P("Query_Actions")]
    assert ex.answer(prog) == ("open", "refrigerator")


def test_filter_situations_returns_everything_when_nothing_matches(ex):
    """STAR's quirk: an unmatched filter passes all situations through instead of none."""
    out = ex.answer([P("Situations"), P("Filter_Situations_with_Rel", "in_front_of")])
    assert list(out) == ["000030"]
    unmatched = StarProgramExecutor({k: v for k, v in SITUATIONS.items() if k != "000030"}, CLASSES)
    assert len(unmatched.answer([P("Situations"), P("Filter_Situations_with_Rel", "in_front_of")])) == 4


def test_sequence_after_and_before(ex):
    after = [P("Situations"), P("Actions"), *ref("take", "book"), P("Filter_After_Actions"), P("Query_Earliest_Action"), P("Query_Actions")]
    assert ex.answer(after) == ("open", "refrigerator")
    before = [P("Situations"), P("Actions"), *ref("put", "book"), P("Filter_Before_Actions"),
              P("Filter_Actions_with_Verb", "take"), P("Query_Latest_Action"), P("Query_Objs")]
    assert ex.answer(before) == "book"
    nothing_before = [P("Situations"), P("Actions"), *ref("take", "book"), P("Filter_Before_Actions")]
    assert ex.answer(nothing_before) is None


def test_short_form_temporal_filter_uses_all_actions(ex):
    """Some dumps omit the action list below the anchor; both forms give the same answer."""
    short = [*ref("take", "book"), P("Filter_After_Actions"), P("Filter_Actions_with_Verb", "put"), P("Unique"), P("Query_Objs")]
    full = [P("Situations"), P("Actions"), *short]
    assert ex.answer(short) == ex.answer(full) == "book"


def test_none_propagates_and_equal_is_wrong(ex):
    prog = [P("Situations"), P("Actions"), P("Filter_Actions_with_Verb", "open"), P("Filter_Actions_with_Obj", "book"),
            P("Unique"), P("Query_Objs"), P("Equal", "book")]
    assert ex.answer(prog) == "Wrong"


def test_feasibility_objs_by_verb_except_done(ex):
    prog = [P("Situations"), P("Objs"), P("Filter_Objs_by_Verb", "take"),
            P("Situations"), P("Actions"), P("Filter_Actions_with_Verb", "put"), P("Query_Objs"), P("Except"), P("Unique")]
    assert ex.answer(prog) == "cup/glass/bottle"


def test_union_belong_to_latest(ex):
    prog = [P("Situations"), P("Actions"), P("Query_Latest_Action"), P("Query_Objs"),
            P("Situations"), P("Actions"), P("Query_Earliest_Action"), P("Query_Objs"), P("Union")]
    assert ex.answer(prog) == ["cup/glass/bottle", "book"]
    assert ex.answer([*prog, P("Belong_to", "book")]) == "Correct"
    assert ex.answer([*prog, P("Belong_to", "refrigerator")]) == "Wrong"


def test_composite_literal_compares_with_action_pair(ex):
    prog = [P("Situations"), P("Actions"), P("Query_Latest_Action"), P("Query_Actions")]
    assert ex.judge([ProgramStep(**p) for p in prog], [ProgramStep(function="Equal", value_input=["take", "cup/glass/bottle"])])
    assert not ex.judge([ProgramStep(**p) for p in prog], [ProgramStep(function="Equal", value_input=["take", "book"])])


def test_normalize_matches_star_surface_forms():
    assert normalize("The Closet/Cabinet.") == normalize("closet/cabinet")
    assert normalize(("take", "book")) == "take book"


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ([P("Situations"), P("Teleport")], "unknown operator 'Teleport'"),
        ([P("Actions")], "Actions needs 1 arguments"),
        ([P("Situations"), P("Filter_Situations_with_Obj", "unicorn")], "unknown object 'unicorn'"),
        ([], "empty"),
    ],
)
def test_bad_programs_raise_clear_errors(ex, program, message):
    with pytest.raises(StarProgramError, match=message):
        ex.run(program)


def test_unknown_action_id_is_an_error():
    bad = StarProgramExecutor({"000001": sit(1, ["a999"], [])}, CLASSES)
    with pytest.raises(StarProgramError, match="a999"):
        bad.run([P("Situations"), P("Actions")])


def test_run_records_every_step(ex):
    run = ex.run([P("Situations"), P("Actions"), P("Unique"), P("Query_Objs")])
    assert [s.function for s in run.steps] == ["Situations", "Actions", "Unique", "Query_Objs"]
    assert run.steps[-1].output == "book" and run.value == "book"


def test_check_sample_judges_choices_against_label():
    program = [ProgramStep(**p) for p in [P("Situations"), P("Actions"), P("Filter_Actions_with_Verb", "open"), P("Unique"), P("Query_Objs")]]
    choices = [Choice(choice_id=i, text=f"The {o}.", program=[ProgramStep(function="Equal", value_input=[o])])
               for i, o in enumerate(["book", "refrigerator", "cup/glass/bottle", "door"])]
    sample = QASample(sample_id="Interaction_T1_1", dataset="star", split="train", video=VideoInfo(video_id="X"),
                      question="Which object was opened by the person?", choices=choices, answer="The refrigerator.",
                      answer_index=1, program=program, situations=SITUATIONS)
    check = check_sample(sample, CLASSES)
    assert check.verdicts == [False, True, False, False] and check.agrees
    wrong_label = sample.model_copy(update={"answer_index": 0})
    assert not check_sample(wrong_label, CLASSES).agrees


def test_real_format_records_with_their_class_files():
    """STAR-schema records written by hand (string ids, verb-first mapping lines, short forms)."""
    from pathlib import Path

    from aotd.data.loaders import load_dataset
    from aotd.data.loaders.star import class_folder

    root = Path(__file__).parents[1] / "fixtures" / "star"
    classes = StarClasses.load(class_folder(root))
    samples = {s.sample_id: s for s in load_dataset("star", root).samples}
    for qid in ("Interaction_T1_13", "Interaction_T2_3003", "Sequence_T1_1035", "Feasibility_T1_55"):
        assert check_sample(samples[qid], classes).agrees, qid
