"""Planner prompt, program extraction and in-context examples, with the real sandbox and tool
API over fake models (scripted actions, boxes and answers)."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from fake_scenes import FakeModels, run, scene_for

from aotd.agent.examples import EXAMPLES
from aotd.agent.planner import LLMPlanner, PlanError, build_messages, extract_program
from aotd.data.schema import QUESTION_FAMILIES, Choice, QASample, VideoInfo
from aotd.embedded.world.vocab import OBJECTS
from aotd.tools.api import documentation

# --- extraction -----------------------------------------------------------------------------------
ENTRY = "def execute_command(video, question, choices):\n    acts = recognize_actions(video)\n    return choose(choices, acts[0])\n"

MESSY: dict[str, str] = {
    "python fence with chatter": f"Sure! Here is the program:\n\n```python\n{ENTRY}```\n\nIt recognises the actions first.",
    "bare fence": f"```\n{ENTRY}```",
    "tilde fence": f"~~~py\n{ENTRY}~~~\nDone.",
    "no fence, prose around": f"We look at the actions.\n\n{ENTRY}\nThis returns the most likely action.\nHope it helps!",
    "unclosed final fence": f"```python\n{ENTRY}",
    "indented block": "Answer:\n```python\n" + "".join(f"    {line}\n" for line in ENTRY.splitlines()) + "```",
    "crlf and tabs": "```python\r\ndef execute_command(video, question, choices):\r\n\tacts = recognize_actions(video)\r\n"
                     "\treturn choose(choices, acts[0])\r\n```",
    "think block with a draft": "<think>\nmaybe:\ndef execute_command(video, question, choices):\n    return choices[0]\n</think>\n"
                                f"```python\n{ENTRY}```",
    "python tags": f"[PYTHON]\n{ENTRY}[/PYTHON]",
    "draft then correction": "```python\ndef execute_command(video, question, choices):\n    return choices[0]\n```\n"
                             f"Wait, that guesses. Better:\n```python\n{ENTRY}```",
}


@pytest.mark.parametrize("name", list(MESSY))
def test_extracts_the_entry_function(name: str) -> None:
    program = extract_program(MESSY[name])
    assert program.strip() == ENTRY.strip(), program
    assert run(program, scene_for(["book"], 0), "q", ["Took the book.", "Ate the food."]).ok


def test_keeps_used_helpers_and_constants_only() -> None:
    reply = """Here you go:
```python
import re
VERB = "take"
UNUSED = 3

def first_of(acts):
    return acts[0] if acts else None

def never_called():
    return UNUSED
```
and the main function:
```python
def execute_command(video, question, choices):
    # the first matching action
    act = first_of([a for a in recognize_actions(video) if a.verb == VERB])
    return choose(choices, act) if act else query(video, question, choices)

if __name__ == "__main__":
    print(execute_command(None, "q", ["a"]))
```"""
    program = extract_program(reply)
    names = [n.name if isinstance(n, ast.FunctionDef) else n.targets[0].id for n in ast.parse(program).body]  # type: ignore[attr-defined]
    assert names == ["VERB", "first_of", "execute_command"]
    assert "# the first matching action" in program and "import" not in program and "__main__" not in program
    assert run(program, scene_for(["book"], 1), "q", ["Took the book.", "Ate the book."]).ok


def test_renames_a_function_with_the_right_signature() -> None:
    reply = ("def helper(x):\n    return x\n\ndef solve(video, question, choices):\n"
             "    return choose(choices, helper(query(video, question, choices)))\n")
    program = extract_program(reply)
    assert "def execute_command(video, question, choices):" in program and "def solve" not in program
    assert "def helper" in program
    assert run(program, FakeModels(), "q", ["a", "b"]).value == "b"


@pytest.mark.parametrize(("reply", "message"), [
    ("I am sorry, I cannot answer questions about videos.", "no function definition"),
    ("```python\nacts = recognize_actions(video)\nanswer = acts[0]\n```", "no function definition"),
    ("```python\ndef execute_command(video, question, choices):\n    acts = recognize_actions(video\n", "does not parse: line 2"),
    ("def execute_command(video, question, choices):\n    for a in acts:\n", "does not parse: line 2"),
    ("```python\ndef answer(video, question):\n    return 1\n```", "defines answer but no execute_command"),
])
def test_unusable_replies_raise_plan_error(reply: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        extract_program(reply)


# --- prompt and LLM planner -------------------------------------------------------------------------
def test_messages_hold_documentation_examples_and_question() -> None:
    doc = documentation()
    messages = build_messages("Which object was taken by the person?", ["The book.", "The cup/glass/bottle."], doc, EXAMPLES)
    assert messages[0]["role"] == "system" and doc.strip() in messages[0]["content"]
    assert "import" in messages[0]["content"] and "0..31" in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(EXAMPLES) + ["user"]
    for ex, (user, assistant) in zip(EXAMPLES, zip(messages[1::2], messages[2::2], strict=False), strict=False):
        assert ex.question in user["content"] and ex.program in assistant["content"]
    assert messages[-1]["content"].endswith('Choices: ["The book.", "The cup/glass/bottle."]')


def test_examples_cover_the_four_families() -> None:
    assert {ex.family for ex in EXAMPLES} == set(QUESTION_FAMILIES)
    assert 4 <= len(EXAMPLES) <= 6


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_programs_run_in_the_sandbox(index: int) -> None:
    ex = EXAMPLES[index]
    assert extract_program(f"```python\n{ex.program}\n```").strip() == ex.program.strip()
    objects = [o for o in OBJECTS if o in ex.question or any(o in c.lower() for c in ex.choices)]
    for models in (FakeModels(), scene_for(objects, index)):
        result = run(ex.program, models, ex.question, list(ex.choices))
        assert result.ok, (result.error, ex.program)
        assert result.value in ex.choices
        assert result.calls, "the program must use the tools"


class ScriptedBackend:
    name, model = "scripted", "m"

    def __init__(self, reply: str) -> None:
        self.reply, self.seen = reply, []

    def complete(self, messages: list[dict[str, str]], **params: Any) -> str:
        self.seen.append(messages)
        return self.reply


def _sample(question: str, choices: list[str]) -> QASample:
    return QASample(sample_id="s1", dataset="t", split="test", video=VideoInfo(video_id="v"), question=question,
                    choices=[Choice(choice_id=i, text=c) for i, c in enumerate(choices)])


def test_llm_planner_records_program_or_error() -> None:
    sample = _sample("Which object was taken by the person?", ["The book.", "The box."])
    good = LLMPlanner(ScriptedBackend(MESSY["python fence with chatter"])).plan(sample)
    assert good.error is None and good.program.strip() == ENTRY.strip()
    assert good.planner == "llm:scripted:m" and len(good.prompt_hash) == 64
    bad = LLMPlanner(ScriptedBackend("No idea.")).plan(sample)
    assert bad.program == "" and "no function" in (bad.error or "") and bad.reply == "No idea."
    assert bad.prompt_hash == good.prompt_hash


# --- rule planner ------------------------------------------------------------------------------------
