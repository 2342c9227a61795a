"""The LLM planner: prompt construction, program extraction from free-form replies, planning.

The prompt follows the paper's recipe: the task and its rules, the tool documentation T, a few
worked examples (``aotd.agent.examples``) as earlier chat turns, then the question and its
choices. Examples are given as user/assistant turns rather than inside the system text so that
the model sees exactly the reply format it must produce: one fenced Python function.

Replies are rarely just code. ``extract_program`` recovers the program with ``ast`` (rules in its
docstring) and raises ``PlanError`` when there is none to recover; ``LLMPlanner`` records that
as the plan's error instead of raising, since a bad reply is a planning outcome, not a crash.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aotd.agent.examples import EXAMPLES, Example
from aotd.agent.sandbox.modules import OFFERED
from aotd.data.records import Plan
from aotd.data.schema import QASample
from aotd.errors import AotdError
from aotd.llm.base import LLMBackend, Message
from aotd.tools.api import documentation as tool_documentation

ENTRY = "execute_command"
SIGNATURE = ("video", "question", "choices")

PROMPT_TASK = (
    "You answer questions about a video by writing a Python program that calls vision tools.\n"
    f"Write one function `def {ENTRY}(video, question, choices):` that finds the answer step by step "
    "with the tools documented below and returns it."
)
PROMPT_RULES = (
    "Rules:",
    ("1. Call only the documented functions and plain Python builtins (len, min, max, sorted, any, all, "
     f"range, ...); you may import {', '.join(OFFERED)} (collections: its containers; functools: reduce) and "
     "nothing else. Do not define classes or use names or attributes that start with `_`."),
    ("2. `video` holds 32 sampled frames with ids 0..31; every frame id given to a tool must be in 0..31. "
     "`video.first` and `video.last` are the first and last frame ids of a clip."),
    ("3. Break the question into steps: find the relevant moment or object, look at that part of the video, "
     "and read the answer from the tools' outputs. Never guess it from the wording of the question or choices."),
    "4. A tool may find nothing (None or an empty list): handle that case, falling back to `query`.",
    ("5. Return one of `choices`, normally with `choose(choices, evidence)`. If `choices` is empty, return a "
     "short answer phrase."),
    "6. Reply with the function only, in one ```python code block.",
)
PROMPT_DOCS_HEADER = "Tool documentation:"


class PlanError(AotdError):
    """A reply from which no runnable program can be extracted."""


class Planner(Protocol):
    name: str

    def plan(self, sample: QASample) -> Plan: ...


# --- prompt ----------------------------------------------------------------------------------
def format_question(question: str, choices: Sequence[str]) -> str:
    """The user turn: the question, and the choices as the list the program receives."""
    return f"Question: {question}\nChoices: {json.dumps(list(choices), ensure_ascii=False)}"


def fenced(program: str) -> str:
    return f"```python\n{program.strip()}\n```"


def build_messages(question: str, choices: Sequence[str], documentation: str,
                   examples: Sequence[Example]) -> list[Message]:
    """System turn (task, rules, documentation T), one user/assistant pair per example, the question."""
    system = "\n\n".join([PROMPT_TASK, "\n".join(PROMPT_RULES), f"{PROMPT_DOCS_HEADER}\n{documentation.strip()}"])
    messages: list[Message] = [{"role": "system", "content": system}]
    for ex in examples:
        messages.append({"role": "user", "content": format_question(ex.question, ex.choices)})
        messages.append({"role": "assistant", "content": fenced(ex.program)})
    messages.append({"role": "user", "content": format_question(question, choices)})
    return messages


def prompt_hash(messages: list[Message]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --- extraction ------------------------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[ \t]*$")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_PY_TAGS = re.compile(r"\[/?PYTHON\]", re.IGNORECASE)
_DEF = re.compile(r"^[ \t]*def[ \t]+\w+[ \t]*\(")
_CODE_AT_TOP = re.compile(r"^(def |@|#|[A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)*\s*(:[^=]+)?=[^=])")


def extract_program(reply: str, entry: str = ENTRY) -> str:
    """The program in an LLM reply: ``entry`` plus the helpers and constants it uses.

    Rules, in order:

    * ``<think>...</think>`` sections are dropped when code follows them; ``[PYTHON]`` tags
      count as fences.
    * Code is taken from fenced blocks (```, ```python, ~~~); a final fence left open (a
      truncated reply) runs to the end. Without fences, or when no fenced block defines a
      function, runs of code starting at ``def`` lines are cut out of the prose around them.
    * Each block is dedented, tabs expanded and CRLF normalised, then parsed with ``ast``. A
      block that does not parse is retried with only its runs of code (prose inside a fence).
    * Top-level functions and constant assignments are collected from every block in order; a
      later definition replaces an earlier one of the same name (the model's correction).
      Calls, imports and ``if __name__`` tests at top level are dropped.
    * The entry function is ``entry``; failing that, the last function with the parameters
      ``(video, question, choices)`` under another name, renamed to ``entry`` (with the calls
      to it), since the sandbox calls the entry by name and keyword arguments.
    * Kept: the entry function, and the helper functions and constants it refers to,
      transitively, in their original text (comments included).

    ``PlanError`` when there is nothing to run: no function at all, code that does not parse
    (the syntax error and its line are named: usually a reply cut off mid-function), or
    functions none of which can be the entry.
    """
    text = reply.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    if _has_def(_THINK.sub("", text)):
        text = _THINK.sub("", text)
    blocks, prose = _fenced_blocks(_PY_TAGS.sub("```", text))
    defs: dict[str, _Def] = {}
    errors: list[str] = []
    _collect(blocks, defs, errors)
    if not _functions(defs):
        _collect(_code_runs(prose), defs, errors)
    functions = _functions(defs)
    if entry not in functions:
        renamable = [name for name, node in functions.items() if tuple(a.arg for a in node.args.args) == SIGNATURE]
        if renamable:
            defs = _rename(defs, renamable[-1], entry)
        elif errors:
            raise PlanError(f"the program in the reply does not parse: {errors[-1]}")
        elif functions:
            raise PlanError(f"the reply defines {', '.join(functions)} but no {entry}(video, question, choices)")
        else:
            raise PlanError("the reply contains no function definition")
    keep = _closure(entry, defs)
    kept = list({id(d): d for d in defs.values() if id(d) in keep}.values())
    program = "\n\n".join(d.source for d in kept) + "\n"
    try:
        ast.parse(program)
    except SyntaxError as exc:  # a rename inside a string, say
        raise PlanError(f"the extracted program does not parse: line {exc.lineno}: {exc.msg}") from None
    return program


@dataclass
class _Def:
    """A top-level statement that defines names, with its source text."""

    node: ast.stmt
    source: str


def _has_def(text: str) -> bool:
    return any(_DEF.match(line) for line in text.split("\n"))


def _functions(defs: dict[str, _Def]) -> dict[str, ast.FunctionDef]:
    return {name: d.node for name, d in defs.items() if isinstance(d.node, ast.FunctionDef)}


def _fenced_blocks(text: str) -> tuple[list[str], str]:
    """Fenced code blocks, and the text outside them."""
    blocks: list[str] = []
    prose: list[str] = []
    current: list[str] | None = None
    opener = ""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if current is None:
            if m:
                current, opener = [], m.group(1)
            else:
                prose.append(line)
        elif m and m.group(1)[0] == opener[0] and len(m.group(1)) >= len(opener) and not m.group(2):
            blocks.append("\n".join(current))
            current = None
        else:
            current.append(line)
    if current is not None:
        blocks.append("\n".join(current))
    return blocks, "\n".join(prose)


def _code_runs(text: str) -> list[str]:
    """Runs of code in prose: from a ``def`` line on, while lines are indented under it or look like code."""
    lines = text.split("\n")
    runs: list[str] = []
    i = 0
    while i < len(lines):
        if not _DEF.match(lines[i]):
            i += 1
            continue
        base = _indent(lines[i])
        j = i + 1
        while j < len(lines) and not (lines[j].strip() and _indent(lines[j]) <= base
                                      and not _CODE_AT_TOP.match(lines[j].strip())):
            j += 1
        runs.append("\n".join(lines[i:j]))
        i = j
    return runs


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _clean(block: str) -> str:
    return textwrap.dedent(block.expandtabs(4)).strip("\n")


def _collect(blocks: list[str], defs: dict[str, _Def], errors: list[str]) -> None:
    """Add each block's top-level functions and constants to ``defs``; a redefinition moves to the end."""
    for raw in blocks:
        source = _clean(raw)
        tree = _parse(source, errors)
        if tree is None:
            runs = [_clean(r) for r in _code_runs(source)]
            if not runs or runs == [source]:
                continue
            source = "\n\n".join(runs)
            tree = _parse(source, [])
            if tree is None:
                continue
        lines = source.split("\n")
        for stmt in tree.body:
            d = _Def(stmt, "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno]))
            for name in _defined_names(stmt):
                defs.pop(name, None)
                defs[name] = d


def _parse(source: str, errors: list[str]) -> ast.Module | None:
    if not source.strip():
        return None
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        if _has_def(source):
            bad = (exc.text or "").strip()
            errors.append(f"line {exc.lineno}: {exc.msg}" + (f" ({bad!r})" if bad else ""))
        return None


def _defined_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.FunctionDef):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
    else:
        return []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _rename(defs: dict[str, _Def], old: str, new: str) -> dict[str, _Def]:
    """``defs`` with function ``old`` named ``new``: its ``def`` line and the calls to it."""
    calls = re.compile(rf"\b{re.escape(old)}\b(?=\s*\()")
    for d in {id(d): d for d in defs.values()}.values():
        d.source = calls.sub(new, d.source)  # the def line too: "def old(" is followed by "("
    return {new if name == old else name: value for name, value in defs.items()}


def _closure(entry: str, defs: dict[str, _Def]) -> set[int]:
    """Ids of the entry's definition and of every top-level definition it reaches by name."""
    keep: set[int] = set()
    todo = [entry]
    while todo:
        d = defs.get(todo.pop())
        if d is None or id(d) in keep:
            continue
        keep.add(id(d))
        todo.extend(n.id for n in ast.walk(d.node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return keep


# --- the planner -------------------------------------------------------------------------------
class LLMPlanner:
    """Asks ``backend`` for a program per question, with the paper's prompt (see module docstring).

    An ``LLMError`` (server down, timeouts after retries) propagates: it is an outage, not a plan.
    """

    def __init__(self, backend: LLMBackend, examples: Sequence[Example] = EXAMPLES, documentation: str | None = None,
                 *, temperature: float = 0.0, max_tokens: int = 1024) -> None:
        self.backend, self.examples = backend, tuple(examples)
        self.documentation = tool_documentation() if documentation is None else documentation
        self.temperature, self.max_tokens = temperature, max_tokens
        self.name = f"llm:{backend.name}:{backend.model}"

    def messages(self, sample: QASample) -> list[Message]:
        return build_messages(sample.question, sample.choice_texts, self.documentation, self.examples)

    def plan(self, sample: QASample) -> Plan:
        messages = self.messages(sample)
        reply = self.backend.complete(messages, temperature=self.temperature, max_tokens=self.max_tokens)
        try:
            program, error = extract_program(reply), None
        except PlanError as exc:
            program, error = "", str(exc)
        return Plan(program=program, planner=self.name, prompt_hash=prompt_hash(messages), reply=reply, error=error)
