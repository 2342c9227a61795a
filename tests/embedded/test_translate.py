"""STAR question programs -> tool programs that parse and run in the sandbox over fake models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fake_scenes import FakeModels, accuracy_with_oracle, run, scene_for

from aotd.data.loaders import load_dataset
from aotd.data.schema import ProgramStep
from aotd.embedded.rule_planner import choice_object
from aotd.embedded.translate import TranslateError, translate_star_program
from aotd.embedded.world.vocab import OBJECTS
from aotd.tools.types import Action, Window


def _steps(*spec: tuple[str, ...]) -> list[ProgramStep]:
    return [ProgramStep(function=f, value_input=list(values)) for f, *values in spec]


def test_every_world_program_translates_and_runs(world_dir: Path) -> None:
    samples = load_dataset("star", world_dir).samples
    assert samples
    for k, s in enumerate(samples):
        assert s.program is not None
        program = translate_star_program(s.program, s.choice_texts)
        ast.parse(program)
        objects = list(dict.fromkeys([choice_object(c) for c in s.choice_texts] + [o for o in OBJECTS if o in s.question]))
        for models in (FakeModels(), scene_for(objects, k)):
            result = run(program, models, s.question, s.choice_texts)
            assert result.ok, (s.question, result.error, program)
            assert result.value in s.choice_texts


def test_reference_programs_answer_right_with_perfect_perception(world_dir: Path) -> None:
    """The translations mean what the STAR programs mean, where the answer is in the clip."""
    score = accuracy_with_oracle(world_dir, lambda s: translate_star_program(s.program, s.choice_texts))
    for family in ("Interaction", "Sequence", "Feasibility"):
        right, asked = score[family]
        assert right == asked, (family, score)


SCENE = FakeModels(
    actions=[Action("take", "book", 0.9, Window(2, 6)), Action("open", "box", 0.8, Window(10, 14)),
             Action("put", "book", 0.7, Window(18, 22)), Action("hold", "cup", 0.6, Window(25, 30))],
    visible={"book": list(range(23)), "box": list(range(8, 32)), "cup": list(range(20, 32))},
)
CHOICES = ["The book.", "The box.", "The cup.", "The shoe."]


@pytest.mark.parametrize(("spec", "answer"), [
    # Sequence, written in full: the object opened after taking the book
    ((("Situations",), ("Actions",), ("Situations",), ("Actions",), ("Filter_Actions_with_Verb", "take"),
      ("Filter_Actions_with_Obj", "book"), ("Unique",), ("Filter_After_Actions",), ("Filter_Actions_with_Verb", "open"),
      ("Unique",), ("Query_Objs",)), "The box."),
    # the short form: only the anchor on the stack
    ((("Situations",), ("Actions",), ("Filter_Actions_with_Obj", "cup"), ("Unique",), ("Filter_Before_Actions",),
      ("Query_Latest_Action",), ("Query_Objs",)), "The book."),
    # while holding the cup: the grounded relation joined with its object
    ((("Situations",), ("Filter_Situations_with_Rel", "hold"), ("Filter_Situations_with_Obj", "cup"), ("Actions",),
      ("Unique",), ("Query_Objs",)), "The cup."),
    # feasibility: visible objects that can be thrown, minus the ones already taken
    ((("Situations",), ("Objs",), ("Filter_Objs_by_Verb", "throw"), ("Situations",), ("Actions",),
      ("Filter_Actions_with_Verb", "take"), ("Query_Objs",), ("Except",), ("Unique",)), "The shoe."),
])
def test_translations_compute_the_answer(spec: tuple[tuple[str, ...], ...], answer: str) -> None:
    program = translate_star_program(_steps(*spec), CHOICES, objects=["book", "box", "shoe"])
    scene = FakeModels(SCENE.actions, {**SCENE.visible, "shoe": [31]})
    result = run(program, scene, "q", CHOICES)
    assert result.ok, (result.error, program)
    assert result.value == answer, program


def test_logical_operators_run() -> None:
    steps = _steps(("Situations",), ("Actions",), ("Query_Objs",), ("Situations",), ("Filter_Situations_with_Rel", "holding"),
                   ("Objs",), ("Union",), ("Belong_to", "book"))
    program = translate_star_program(steps, ["Correct.", "Wrong."], objects=["book", "cup"])
    assert run(program, SCENE, "q", ["Correct.", "Wrong."]).value == "Correct."
    verdict = translate_star_program(_steps(("Situations",), ("Actions",), ("Query_Latest_Action",), ("Query_Actions",),
                                            ("Equal", "hold", "cup")), ["Correct.", "Wrong."])
    assert run(verdict, SCENE, "q", ["Correct.", "Wrong."]).value == "Correct."


def test_tool_calls_are_not_repeated() -> None:
    steps = _steps(("Situations",), ("Actions",), ("Situations",), ("Actions",), ("Filter_Actions_with_Verb", "put"),
                   ("Unique",), ("Filter_Before_Actions",), ("Query_Earliest_Action",), ("Query_Actions",))
    program = translate_star_program(steps, ["Took the book.", "Opened the box."])
    assert program.count("actions_in(video)") == 1
    assert run(program, SCENE, "q", ["Took the book.", "Opened the box."]).value == "Took the book."


@pytest.mark.parametrize(("spec", "message"), [
    ((("Situations",), ("Rels",)), "unknown operator 'Rels'"),
    ((("Actions",),), "needs 1 values"),
    ((("Situations",),), "ends in situations"),
    ((("Situations",), ("Query_Objs",)), "expected action or actions, got clip"),
    ((("Situations",), ("Objs",), ("Filter_Objs_by_Verb", "juggle")), "no object goes with the verb 'juggle'"),
])
def test_untranslatable_programs(spec: tuple[tuple[str, ...], ...], message: str) -> None:
    with pytest.raises(TranslateError, match=message):
        translate_star_program(_steps(*spec), CHOICES)
