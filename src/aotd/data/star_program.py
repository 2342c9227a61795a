"""Executor for STAR's postfix ``question_program`` / ``choice_program`` operators.

A program is a list of ``{"function", "value_input"}`` steps. Each step pushes its literal
``value_input`` onto a stack, then the function pops its arguments and pushes its result,
as in STAR's own checker. Appending a choice's program (``Equal <value>``) to the question's
turns the answer into ``Correct`` / ``Wrong``, which is how a choice is judged.

The semantics follow STAR's released operators, quirks included, so that the executor
checks real STAR annotations as well as the embedded world's:

* ``Actions`` lists action ids in order of first appearance over the sorted key frames;
* ``Filter_Situations_with_Rel`` / ``_with_Obj`` return *all* situations when none match;
* an empty result is ``None`` and flows through later operators, which return ``None`` too.

``Filter_After_Actions`` / ``Filter_Before_Actions`` take the action list and the anchor
action. Programs are found written both with the list pushed first (``Situations Actions
... Unique Filter_After_Actions``) and without it; when only the anchor is on the stack, the
question's whole action list is used, which is what the short form means.

Deviations, each to make results deterministic or comparable: ``Objs`` / ``Rels`` keep
first-appearance order instead of a set's arbitrary order, and ``Equal`` compares text
case-insensitively with a verb-object pair equal to ``"verb object"``. A step whose
``value_input`` holds more literals than the operator takes passes them as one composite
value (how action choices such as ``["take", "book"]`` are written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aotd.data.schema import ProgramStep, QASample, Situation
from aotd.data.star_classes import StarClasses
from aotd.errors import AotdError

CORRECT, WRONG = "Correct", "Wrong"
_TEMPORAL_FILTERS = ("Filter_After_Actions", "Filter_Before_Actions")


class StarProgramError(AotdError):
    """A program that cannot run: unknown operator, missing argument, unknown class name."""


@dataclass
class StepResult:
    function: str
    args: list[Any]
    output: Any


@dataclass
class ProgramRun:
    """The value a program leaves on the stack and every step taken to get it."""

    value: Any
    steps: list[StepResult] = field(default_factory=list)


@dataclass(frozen=True)
class _Op:
    func: Callable[..., Any]
    arity: int  # values popped from the stack (literals included)
    literals: int  # how many of those a step normally writes in value_input


class StarProgramExecutor:
    """Runs STAR programs over one question's situations, using the class files' names."""

    def __init__(self, situations: Mapping[str, Situation | Mapping[str, Any]], classes: StarClasses) -> None:
        self.classes = classes
        self.situations: dict[str, Situation] = {
            key: s if isinstance(s, Situation) else Situation(frame=int(key), **s) for key, s in situations.items()
        }
        self.ops: dict[str, _Op] = {
            "Situations": _Op(self._situations, 0, 0),
            "Actions": _Op(self._actions, 1, 0),
            "Objs": _Op(self._objs, 1, 0),
            "Rels": _Op(self._rels, 1, 0),
            "Filter_Actions_with_Verb": _Op(self._filter_actions_with_verb, 2, 1),
            "Filter_Actions_with_Obj": _Op(self._filter_actions_with_obj, 2, 1),
            "Filter_After_Actions": _Op(self._filter_after, 2, 0),
            "Filter_Before_Actions": _Op(self._filter_before, 2, 0),
            "Filter_Situations_with_Rel": _Op(self._filter_situations_with_rel, 2, 1),
            "Filter_Situations_with_Obj": _Op(self._filter_situations_with_obj, 2, 1),
            "Filter_Objs_by_Verb": _Op(self._filter_objs_by_verb, 2, 1),
            "Unique": _Op(_unique, 1, 0),
            "Equal": _Op(_equal, 2, 1),
            "Union": _Op(_union, 2, 0),
            "Belong_to": _Op(_belong_to, 2, 1),
            "Except": _Op(_except, 2, 0),
            "Query_Objs": _Op(self._query_objs, 1, 0),
            "Query_Actions": _Op(self._query_actions, 1, 0),
            "Query_Verbs": _Op(self._query_verbs, 1, 0),
            "Query_Earliest_Action": _Op(_first, 1, 0),
            "Query_Latest_Action": _Op(_last, 1, 0),
        }

    # --- running --------------------------------------------------------------------
    def run(self, program: Iterable[ProgramStep | Mapping[str, Any]]) -> ProgramRun:
        stack: list[Any] = []
        steps: list[StepResult] = []
        for position, raw in enumerate(program):
            step = raw if isinstance(raw, ProgramStep) else ProgramStep(**raw)
            op = self.ops.get(step.function)
            if op is None:
                raise StarProgramError(
                    f"step {position}: unknown operator {step.function!r}; known: {', '.join(sorted(self.ops))}"
                )
            stack.extend(_literals(step.value_input, op.literals))
            if step.function in _TEMPORAL_FILTERS and len(stack) == 1:
                stack.insert(0, self._actions(self._situations()))  # the written-short form
            if len(stack) < op.arity:
                raise StarProgramError(
                    f"step {position}: {step.function} needs {op.arity} arguments, the stack holds {len(stack)}"
                )
            args = stack[len(stack) - op.arity :] if op.arity else []
            del stack[len(stack) - op.arity :]
            output = op.func(*args)
            stack.append(output)
            steps.append(StepResult(step.function, args, output))
        if not stack:
            raise StarProgramError("the program is empty")
        return ProgramRun(stack[-1], steps)

    def answer(self, program: Iterable[ProgramStep | Mapping[str, Any]]) -> Any:
        return self.run(program).value

    def judge(self, question_program: list[ProgramStep], choice_program: list[ProgramStep]) -> bool:
        """Whether a choice is correct: its program appended to the question's gives Correct."""
        return self.run([*question_program, *choice_program]).value == CORRECT

    # --- input and element operators ------------------------------------------------
    def _situations(self) -> dict[str, Situation]:
        return dict(sorted(self.situations.items(), key=lambda kv: kv[1].frame))

    def _ordered(self, situations: dict[str, Situation] | None, attr: str) -> list[str] | None:
        if situations is None:
            return None
        seen: dict[str, None] = {}
        for situation in sorted(situations.values(), key=lambda s: s.frame):
            for item in getattr(situation, attr):
                seen.setdefault(item, None)
        return list(seen) or None

    def _actions(self, situations: dict[str, Situation] | None) -> list[str] | None:
        actions = self._ordered(situations, "actions")
        for aid in actions or []:
            if aid not in self.classes.action_map:
                raise StarProgramError(f"action {aid} is not in the class files' action_mapping")
        return actions

    def _objs(self, situations: dict[str, Situation] | None) -> list[str] | None:
        return self._ordered(situations, "bbox_labels")

    def _rels(self, situations: dict[str, Situation] | None) -> list[str] | None:
        return self._ordered(situations, "rel_labels")

    # --- filters -----------------------------------------------------------------------
    def _filter_actions_with_verb(self, actions: list[str] | None, verb: str) -> list[str] | None:
        if actions is None:
            return None
        return [a for a in actions if self.classes.action_verb(a) == verb] or None

    def _filter_actions_with_obj(self, actions: list[str] | None, obj: str) -> list[str] | None:
        if actions is None:
            return None
        return [a for a in actions if self.classes.action_object(a) == obj] or None

    def _filter_after(self, actions: list[str] | None, current: str | None) -> list[str] | None:
        if actions is None or current is None or current not in actions:
            return None
        return actions[actions.index(current) + 1 :] or None

    def _filter_before(self, actions: list[str] | None, current: str | None) -> list[str] | None:
        if actions is None or current is None or current not in actions:
            return None
        return actions[: actions.index(current)] or None

    def _filter_situations_with_rel(self, situations: dict[str, Situation] | None, rel: str) -> dict[str, Situation] | None:
        if situations is None:
            return None
        rid = self.classes.relationship_id(rel)
        if rid is None:
            raise StarProgramError(f"unknown relationship {rel!r}")
        selected = {k: s for k, s in situations.items() if rid in s.rel_labels}
        return selected or situations

    def _filter_situations_with_obj(self, situations: dict[str, Situation] | None, obj: str) -> dict[str, Situation] | None:
        if situations is None:
            return None
        oid = self.classes.object_id(obj)
        if oid is None:
            raise StarProgramError(f"unknown object {obj!r}")
        selected = {k: s for k, s in situations.items() if oid in s.bbox_labels}
        return selected or situations

    def _filter_objs_by_verb(self, objs: list[str] | None, verb: str) -> list[str] | None:
        if objs is None:
            return None
        feasible = self.classes.objects_for_verb(verb)
        names = [self.classes.object_name(o) for o in objs if o in self.classes.objects]
        return [n for n in names if n in feasible] or None

    # --- queries -------------------------------------------------------------------------
    def _query_objs(self, action: str | list[str] | None) -> str | list[str] | None:
        return _map(action, self.classes.action_object)

    def _query_verbs(self, action: str | list[str] | None) -> str | list[str] | None:
        return _map(action, self.classes.action_verb)

    def _query_actions(self, action: str | list[str] | None) -> Any:
        return _map(action, lambda a: (self.classes.action_verb(a), self.classes.action_object(a)))


# --- logical operators (no class names needed) ---------------------------------------------
def _literals(values: list[Any], count: int) -> list[Any]:
    if count and len(values) > count:
        return [*values[: count - 1], tuple(values[count - 1 :])]
    return list(values)


def _map(value: Any, fn: Callable[[str], Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [fn(v) for v in value]
    return fn(value)


def _unique(items: list[Any] | None) -> Any:
    return None if not items else items[0]


def _first(items: list[Any] | None) -> Any:
    return None if not items else items[0]


def _last(items: list[Any] | None) -> Any:
    return None if not items else items[-1]


def normalize(value: Any) -> str:
    """Comparable text: 'The Book.' == 'book'; ('take', 'book') == 'take book'."""
    if isinstance(value, (list, tuple)):
        return " ".join(normalize(v) for v in value)
    text = str(value).strip().lower().rstrip(".")
    if text.startswith("the "):
        text = text[4:]
    return " ".join(text.split())


def _equal(a: Any, b: Any) -> str:
    if a is None or b is None:
        return WRONG
    return CORRECT if normalize(a) == normalize(b) else WRONG


def _belong_to(group: Any, item: Any) -> str:
    if group is None or item is None:
        return WRONG
    members = group if isinstance(group, list) else [group]
    return CORRECT if normalize(item) in {normalize(m) for m in members} else WRONG


def _union(a: Any, b: Any) -> Any:
    if a is None and b is None:
        return None
    if a is None:
        return b
    if b is None:
        return a
    return (a if isinstance(a, list) else [a]) + (b if isinstance(b, list) else [b])


def _except(group: list[Any] | None, remove: Any) -> list[Any] | None:
    if group is None:
        return None
    if remove is None:
        return group
    drop = {normalize(r) for r in (remove if isinstance(remove, list) else [remove])}
    return [g for g in group if normalize(g) not in drop] or None


# --- sample-level helpers ------------------------------------------------------------------
@dataclass
class SampleCheck:
    """What the program says about one labelled sample."""

    run: ProgramRun
    verdicts: list[bool]
    label_index: int | None

    @property
    def answer(self) -> Any:
        return self.run.value

    @property
    def agrees(self) -> bool:
        """Exactly one choice is Correct and it is the labelled one."""
        return self.label_index is not None and self.verdicts.count(True) == 1 and self.verdicts[self.label_index]


def check_sample(sample: QASample, classes: StarClasses) -> SampleCheck:
    """Run a STAR sample's program on its situations and judge every choice."""
    if sample.program is None or sample.situations is None:
        raise StarProgramError(f"sample {sample.sample_id} has no question_program or no situations to run it on")
    executor = StarProgramExecutor(sample.situations, classes)
    verdicts = []
    for choice in sample.choices:
        if choice.program is None:
            raise StarProgramError(f"sample {sample.sample_id}: choice {choice.choice_id} has no choice_program")
        verdicts.append(executor.judge(sample.program, choice.program))
    return SampleCheck(executor.run(sample.program), verdicts, sample.answer_index)
