"""``aotd check-config``: everything a run config can be checked for without loading a model.

A 7B run fails expensively when a key is wrong halfway through step 2, so the cross-field rules
(a candidate name per sub-task, an LLM section with its model and server, a label list for the
recognizers that need one, a student with weights) and the local paths are checked up front.
Hub ids are only reported: whether they download is the machine's business, not the config's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aotd.config import Config, LLMConfig
from aotd.errors import AotdError

NEEDS_LABELS = ("xclip", "video-llm")  # recognizers that choose from a label list


@dataclass
class Check:
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    models: list[tuple[str, str]] = field(default_factory=list)  # (role, model) as the run will load them

    def run(self, what: str, fn: object, *args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)  # type: ignore[operator]
        except AotdError as exc:
            self.errors.append(f"{what}: {exc}" if not str(exc).startswith(what) else str(exc))


def looks_local(model: str) -> bool:
    """A path rather than a hub id ("org/name"): absolute, relative with ./ or ~, or deeper than org/name."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or Path(model).expanduser().exists()


def _model(check: Check, role: str, key: str, model: str | None) -> None:
    if not model:
        return
    check.models.append((role, model))
    if looks_local(model):
        if not Path(model).expanduser().exists():
            check.errors.append(f"{key}: {model} is not a folder on this machine; point it at the weights "
                                "or use a hub id")


def _llm(check: Check, section: str, role: str, cfg: LLMConfig) -> None:
    """The section names a backend that can be built (the same rules the run applies)."""
    from aotd.llm.build import build_backend

    try:
        backend = build_backend(cfg, section=section)
    except AotdError as exc:
        check.errors.append(str(exc))
        return
    close = getattr(backend, "close", None)
    if close is not None:
        close()  # an HTTP client; nothing was sent
    if cfg.backend == "transformers":
        _model(check, role, f"{section}.model", cfg.model)
    else:
        check.models.append((role, f"{cfg.model} @ {cfg.base_url}"))


def check_config(cfg: Config) -> Check:
    """Problems (``errors``) and remarks (``notes``) about ``cfg``; relative paths are read from the current folder,
    as the run reads them."""
    import aotd.embedded.candidates  # noqa: F401 - registers the embedded world's tools in the table
    from aotd.tools import registry

    check = Check()
    tools = cfg.tools
    check.run("tools", registry.check_choice, tools)
    for sub in tools.SUBTASKS:
        check.run(f"tools.candidates.{sub}", registry.step1_candidates, sub, tools)
    for sub in tools.SUBTASKS:
        name = getattr(tools, sub)
        if registry.is_transformers(sub, name):
            _model(check, f"{sub} ({name})", f"tools.models.{name}.model", tools.model_spec(name).model)
    recognizers = {tools.recognition, *(tools.candidates.recognition or [])}
    if tools.labels is None and tools.recognition in NEEDS_LABELS:
        check.errors.append(f"tools.labels: recognition {tools.recognition} chooses from a label list; point "
                            "tools.labels at STAR's class folder or a text file of one action a line")
    elif tools.labels is None and recognizers & set(NEEDS_LABELS):
        check.notes.append("tools.labels is unset: step 1 will read the action labels from the dataset's class files")
    elif tools.labels is not None and not (Path(tools.labels).exists()):
        check.notes.append(f"tools.labels: {tools.labels} is not here yet; it must exist where the agent runs")
    if cfg.planner.kind == "llm":
        _llm(check, "planner", "planner", cfg.planner)
    if "llm" in (cfg.cot.converter, cfg.cot.judge, cfg.cot.answer_judge):
        _llm(check, "cot", "cot (convert, verify)", cfg.cot)
    if cfg.eval.judge.backend or cfg.eval.judge.model:
        _llm(check, "eval.judge", "eval (open-ended judge)", cfg.eval.judge)
    d = cfg.distill
    if d.student != "embedded":
        if not d.model:
            check.errors.append(f"distill.model: the {d.student} student needs pretrained weights (a hub id or folder)")
        _model(check, f"student ({d.student})", "distill.model", d.model)
        if not d.freeze_vision:
            check.notes.append("distill.freeze_vision is false: the paper keeps the vision tower frozen")
    elif d.train.mixed_precision not in (None, "no"):
        check.notes.append("distill.train.mixed_precision: the embedded student is small; fp32 is as fast on a CPU")
    return check
