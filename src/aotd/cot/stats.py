"""Table 2 of the paper, per dataset and question type, with the pass rate of each stage."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aotd.data.records import CotRecord

COLUMNS = ("labels", "traced", "answer_ok", "judged", "quality_ok", "kept")


def table2(records: list[CotRecord]) -> dict[str, Any]:
    """Counts per (dataset, question type), a total per dataset and overall, and rejection reasons.

    ``traced``: the program ran and returned an answer; ``answer_ok``: stage (i) passed;
    ``judged``/``quality_ok``: stage (ii) ran/passed; ``kept``: both passed, the CoTs step 4 uses.
    Stage pass rates are over the samples that reached the stage.
    """
    rows: dict[tuple[str, str], Counter[str]] = {}
    reasons: Counter[str] = Counter()
    for r in records:
        if r.label is None:
            continue
        for key in ((r.dataset, r.question_type or "-"), (r.dataset, "all"), ("all", "all")):
            c = rows.setdefault(key, Counter())
            c["labels"] += 1
            c["traced"] += r.answer is not None
            c["answer_ok"] += bool(r.answer and r.answer.passed)
            c["judged"] += r.quality is not None and r.quality.passed is not None
            c["quality_ok"] += bool(r.quality and r.quality.passed)
            c["kept"] += r.kept
        if r.failure:
            reasons[r.failure] += 1
        elif r.answer and r.answer.passed is False:
            reasons["answer:wrong"] += 1
        elif r.quality and r.quality.passed is False:
            for check in (r.quality.reason or "rejected").split(", "):
                reasons[f"quality:{check}"] += 1
    out = []
    for (dataset, qtype), c in sorted(rows.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0], kv[0][1] == "all", kv[0][1])):
        row: dict[str, Any] = {"dataset": dataset, "type": qtype, **{k: c[k] for k in COLUMNS}}
        row["answer_rate"] = _rate(c["answer_ok"], c["traced"])
        row["quality_rate"] = _rate(c["quality_ok"], c["judged"])
        row["kept_rate"] = _rate(c["kept"], c["labels"])
        out.append(row)
    return {"rows": out, "rejections": dict(reasons.most_common())}


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def markdown(table: dict[str, Any]) -> str:
    head = ("| dataset | type | # labels | traced | (i) answer ✓ | (ii) judged | (ii) step-by-step ✓ | # CoTs kept | kept / labels |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in table["rows"]:
        lines.append(f"| {r['dataset']} | {r['type']} | {r['labels']} | {r['traced']} | {r['answer_ok']} ({_pct(r['answer_rate'])}) "
                     f"| {r['judged']} | {r['quality_ok']} ({_pct(r['quality_rate'])}) | {r['kept']} | {_pct(r['kept_rate'])} |")
    if table["rejections"]:
        lines.append("\nRejected or failed, by reason: " + ", ".join(f"{k} {v}" for k, v in table["rejections"].items()))
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
