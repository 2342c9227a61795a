"""Step 3 as a runner stage: convert each trace, verify it in two stages, keep or reject it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aotd
from aotd.config import AGENT_SECTIONS, COT_SECTIONS, Config
from aotd.cot.convert import RuleConverter
from aotd.cot.program import ProgramConverter
from aotd.cot.record import AnswerJudge, Converter, QualityJudge
from aotd.cot.verify import NormalizedAnswer, RuleJudge, exact_answer
from aotd.data.records import BadLine, CotRecord, TraceRecord, Verdict
from aotd.errors import AotdError
from aotd.runner import RunReport, Shard, run_stage


def build_cot(trace: TraceRecord, converter: Converter, judge: QualityJudge, answer_judge: AnswerJudge, *,
              judge_all: bool = False) -> CotRecord:
    """The step-3 record of one trace; never raises for a problem of this trace."""
    record = CotRecord(sample_id=trace.sample_id, trace=trace)
    if trace.failure:
        record.failure, record.error = f"trace:{trace.failure}", trace.error
        return record
    # stage (i): the answer
    if trace.label is None:
        record.answer = Verdict(passed=None, method="none", reason="no label")
    elif trace.choices:
        record.answer = exact_answer(trace.prediction, trace.label)
    else:
        record.answer = answer_judge.check(trace.question, trace.label, str(trace.prediction))
        if record.answer.passed is None:
            record.failure, record.error = "judge:answer", record.answer.reason
    # conversion: every successful trace gets its rationale, so unfiltered ablations can use it
    conversion = converter.convert(trace)
    record.converter = conversion.method
    if conversion.rationale is None:
        record.failure, record.error = f"convert:{_slug(conversion.error)}", conversion.error
        return record
    record.rationale = conversion.rationale
    # stage (ii): the rationale, for those that passed (i) — or all, for ablations
    if record.answer.passed or (judge_all and record.answer.passed is not None):
        record.quality = judge.judge(trace.question, trace.choices, str(trace.prediction), conversion.rationale)
        if record.quality.passed is None and record.failure is None:
            record.failure, record.error = "judge:quality", record.quality.reason
    record.kept = bool(record.answer.passed and record.quality and record.quality.passed)
    return record


def _slug(text: str | None) -> str:
    return (text or "unknown").split(":")[0].strip().lower().replace(" ", "_")[:40]


def rule_converter(name: str) -> Converter:
    """The converters that need no model, by their ``cot.converter`` name."""
    return ProgramConverter() if name == "program" else RuleConverter()


class CotStage:
    """Built from a config so it can travel to workers and Ray actors; LLMs are created in ``setup``."""

    name = "cot"

    def __init__(self, cfg: Config, *, cache_dir: Path | None = None) -> None:
        self.cfg, self.cache_dir = cfg, cache_dir
        self.fingerprint = cfg.digest(*COT_SECTIONS)
        self._parts: tuple[Converter, QualityJudge, AnswerJudge] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_parts": None}

    def key(self, trace: TraceRecord) -> str:
        return trace.sample_id

    def setup(self) -> None:
        c = self.cfg.cot
        backend = None
        if "llm" in (c.converter, c.judge, c.answer_judge):
            from aotd.llm.build import build_backend

            backend = build_backend(c, section="cot", cache_dir=None if self.cache_dir is None else self.cache_dir / "llm")
        if backend is not None:
            from aotd.cot.llm import LLMAnswerJudge, LLMConverter, LLMQualityJudge

            converter: Converter = LLMConverter(backend, max_tokens=c.max_tokens, temperature=c.temperature) \
                if c.converter == "llm" else rule_converter(c.converter)
            judge: QualityJudge = LLMQualityJudge(backend) if c.judge == "llm" else RuleJudge()
            answer: AnswerJudge = LLMAnswerJudge(backend) if c.answer_judge == "llm" else NormalizedAnswer()
        else:
            converter, judge, answer = rule_converter(c.converter), RuleJudge(), NormalizedAnswer()
        self._parts = (converter, judge, answer)

    def process(self, trace: TraceRecord) -> tuple[str, dict[str, float]]:
        import time

        assert self._parts is not None, "setup() first"
        start = time.perf_counter()
        record = build_cot(trace, *self._parts, judge_all=self.cfg.cot.judge_all)
        return self._finish(record).model_dump_json(), {"cot_s": round(time.perf_counter() - start, 4)}

    def failed(self, trace: TraceRecord, reason: str) -> str:
        record = CotRecord(sample_id=trace.sample_id, trace=trace, failure="crash", error=reason)
        return self._finish(record).model_dump_json()

    def _finish(self, record: CotRecord) -> CotRecord:
        c = self.cfg.cot
        record.provenance = {"aotd": aotd.__version__, "config": self.fingerprint, "stage": self.name,
                             "converter": c.converter, "judge": c.judge,
                             **({"llm": c.model} if c.model and "llm" in (c.converter, c.judge, c.answer_judge) else {})}
        return record


def check_trace_configs(traces: Iterable[TraceRecord], cfg: Config, path: Path) -> None:
    """Refuse traces made with other tools, planner or sandbox than ``cfg`` says: their CoTs
    would be recorded under a config that did not make them."""
    want = cfg.digest(*AGENT_SECTIONS)
    found = Counter(t.provenance.get("config", "") for t in traces)
    wrong = {k: n for k, n in found.items() if k != want}
    if wrong:
        config, n = next(iter(wrong.items()))
        raise AotdError(f"{path}: {n} trace(s) were made with config {config or '(none recorded)'}, but --config "
                        f"gives {want} (its tools/planner/sandbox differ); pass the config `aotd agent` ran with")


def run_cot(traces: Path, cfg: Config, out: Path, *, cache_dir: Path | None = None, shard: Shard | None = None,
            workers: int = 1, executor: str = "local", progress: bool = True,
            retry: tuple[str, ...] = ()) -> tuple[RunReport, dict[str, Any], list[BadLine]]:
    """Step 3 over a trace file: the run's report, Table 2 of the whole output, skipped input lines.

    Table 2 is also written beside ``out`` as ``<name>.table2.json``.
    """
    from aotd.cot.stats import table2
    from aotd.data.records import TraceRecord, read_records

    bad: list[BadLine] = []
    records = read_records(traces, TraceRecord, bad)
    if not records:
        raise AotdError(f"{traces}: no trace records to convert")
    check_trace_configs(records, cfg, traces)
    report = run_stage(CotStage(cfg, cache_dir=cache_dir), records, out, shard=shard, workers=workers,
                       executor=executor, progress=progress, retry=retry)
    table = table2(read_records(out, CotRecord))
    (out.parent / (out.name.removesuffix(".jsonl") + ".table2.json")).write_text(json.dumps(table, indent=2) + "\n")
    return report, table, bad
