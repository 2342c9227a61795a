"""``aotd report``: a demo run's numbers as the paper's tables, plots and example rationales.

Reads what ``aotd demo`` wrote (``select/table1.md``, ``table2.json``, ``results/*.json``,
``students/*/history.jsonl``) and writes ``README.md`` and ``index.html`` (the same content)
with PNG plots beside them. Every number says which seed it came from, or the mean and spread
over seeds; the summary line says whether CoT distillation helped and whether the difference
is larger than the spread between seeds.
"""

from __future__ import annotations

import html
import json
import re
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aotd.data.records import EvalRow, read_records
from aotd.errors import AotdError

if TYPE_CHECKING:
    from aotd.data.schema import QASample

SYSTEMS = {"instruct": "Instruct (answers only)", "aotd": "AoTD (answers + verified CoTs)",
           "unfiltered": "AoTD without filtering (as many CoTs, unverified)",
           "aotd-shuffled": "control: AoTD, each sample given another's CoT",
           "blind-instruct": "control: Instruct on black frames", "blind-aotd": "control: AoTD on black frames"}
FAMILIES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


_STUDENT = r"([\w-]+?)-seed(\d+)"  # a student's run name: <variant>-seed<k>


def collect(run: Path) -> dict[str, Any]:
    """Everything the report shows, from a demo folder."""
    results = run / "results"
    if not results.is_dir():
        raise AotdError(f"{run}: no results/ folder; run `aotd demo --out {run}` first (it resumes where it stopped)")
    students: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(results.glob("*-seed*.json")):
        m = re.fullmatch(_STUDENT + r"(\.rationale)?\.json", path.name)
        if not m:
            continue
        entry = students.setdefault(m[1], {}).setdefault(int(m[2]), {})
        entry["rationale" if m[3] else "answer"] = _load(path)
    if not students:
        raise AotdError(f"{results}: no student results (expected <variant>-seed<k>.json)")
    histories = {p.parent.name: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
                 for p in sorted((run / "students").glob("*/history.jsonl"))}
    validation = {p.parent.name: _load(p) for p in sorted((run / "students").glob("*/val.json"))}
    return {"demo": _load(run / "demo.json") if (run / "demo.json").exists() else {},
            "table1": (run / "select" / "table1.md").read_text() if (run / "select" / "table1.md").exists() else None,
            "table2": _load(run / "table2.json") if (run / "table2.json").exists() else None,
            "agent": _load(results / "agent.json") if (results / "agent.json").exists() else None,
            "students": students, "histories": histories, "validation": validation,
            "controls": _load(run / "controls.json") if (run / "controls.json").exists() else None,
            "timings": _load(run / "timings.json") if (run / "timings.json").exists() else None}


def _acc(summary: dict[str, Any], family: str | None = None) -> float | None:
    acc = summary["accuracy"]["overall"] if family is None else summary["accuracy"]["per_type"].get(family)
    return None if acc is None else acc["accuracy"]


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _fmt(values: list[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    mean, sd = _mean_sd(vals)
    return f"{100 * mean:.1f}" + (f" ± {100 * sd:.1f}" if sd is not None else "")


def accuracy_table(data: dict[str, Any]) -> str:
    lines = ["| system | seeds | test accuracy (%) | " + " | ".join(FAMILIES) + " | fallback picks |",
             "|---|---|---:|" + "---:|" * len(FAMILIES) + "---:|"]
    if data["agent"]:
        a = data["agent"]
        lines.append(f"| agent (tools + rule planner; no training) | – | {_fmt([_acc(a)])} | "
                     + " | ".join(_fmt([_acc(a, f)]) for f in FAMILIES) + " | – |")
    for variant, label in SYSTEMS.items():
        runs = data["students"].get(variant)
        if not runs:
            continue
        answers = [r["answer"] for _, r in sorted(runs.items()) if "answer" in r]
        fallbacks = sum(s["accuracy"]["overall"]["fallbacks"] for s in answers)
        seeds = ", ".join(str(k) for k in sorted(runs))
        lines.append(f"| {label} | {seeds} | {_fmt([_acc(s) for s in answers])} | "
                     + " | ".join(_fmt([_acc(s, f) for s in answers]) for f in FAMILIES) + f" | {fallbacks} |")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "✗" if value is None else f"{100 * value:.1f}"


def grounding_table(data: dict[str, Any]) -> str:
    lines = ["| system | rationales | with windows | temporal IoU | recall@0.5 | box IoU |", "|---|---:|---:|---:|---:|---:|"]

    def row(label: str, g: dict[str, Any] | None) -> None:
        if not g:
            lines.append(f"| {label} | – | – | ✗ | ✗ | ✗ |")
            return
        lines.append(f"| {label} | {g['rationales']} | {g['with_windows']} | {_cell(g['temporal_iou'])} | "
                     f"{_cell(g['recall_at_0.5'])} | {_cell(g['spatial_iou'])} |")

    if data["agent"]:
        row("agent (expert tools' own outputs)", data["agent"].get("grounding"))
    for variant, label in SYSTEMS.items():
        for seed, r in sorted(data["students"].get(variant, {}).items()):
            if variant == "instruct":
                row(f"{label}, seed {seed} (never asked for a rationale)", None)
            elif "rationale" in r:
                row(f"{label}, seed {seed}", r["rationale"].get("grounding"))
    return "\n".join(lines)


def controls_table(data: dict[str, Any]) -> str | None:
    """What text alone answers on the test split (fit on train): the testbed's own check."""
    c = data.get("controls")
    if not c:
        return None
    t = c["text_only"]
    lines = ["| text-only control (fit on train, scored on test) | accuracy (%) |", "|---|---:|",
             f"| text-only model (question and option words, their pairs, position) | {100 * t['overall']:.1f} |",
             f"| step 1's text prior (most frequent answer per question shape) | {100 * c['step1_text_prior']:.1f} |",
             f"| most frequent answer position | {100 * c['answer_position']:.1f} |",
             "| chance (four options) | 25.0 |"]
    return "\n".join(lines)


_DATA = re.compile(r"(instruct|aotd)-data(\d+)")
_LAMBDA = re.compile(r"aotd-lambda([\d_]+)")


def _sweep_pairs(variants: Any) -> list[tuple[str, str]]:
    """The size sweep's AoTD - Instruct at each share of the labels; the λ sweep's AoTD - Instruct."""
    pairs = [(v, "instruct-data" + m[2]) for v in variants if (m := _DATA.fullmatch(v)) and m[1] == "aotd"]
    return pairs + [(v, "instruct") for v in variants if _LAMBDA.fullmatch(v)]


def sweeps_table(data: dict[str, Any], comparisons: dict[str, Any]) -> str | None:
    """The data-size curve (Instruct and AoTD on shares of the labels) and the λ sweep, with
    AoTD - Instruct and its 95% interval at each point."""
    students = data["students"]

    def acc(variant: str) -> str:
        return _fmt([_acc(r["answer"]) for r in students.get(variant, {}).values() if "answer" in r])

    def diff(name: str) -> str:
        c = comparisons.get(name)
        return "–" if not c else f"{100 * c['difference']:+.1f} [{100 * c['ci95'][0]:+.1f}, {100 * c['ci95'][1]:+.1f}]"

    shares = sorted({int(m[2]) for v in students if (m := _DATA.fullmatch(v))})
    lambdas = sorted({m[1] for v in students if (m := _LAMBDA.fullmatch(v))}, key=lambda t: float(t.replace("_", ".")))
    if not shares and not lambdas:
        return None
    lines = ["| sweep | point | Instruct (%) | AoTD (%) | AoTD − Instruct [95% CI] |", "|---|---|---:|---:|---:|"]
    for pct in shares:
        lines.append(f"| labels | {pct}% | {acc(f'instruct-data{pct}')} | {acc(f'aotd-data{pct}')} | "
                     f"{diff(f'aotd-data{pct} - instruct-data{pct}')} |")
    if shares:
        lines.append(f"| labels | 100% | {acc('instruct')} | {acc('aotd')} | {diff('aotd - instruct')} |")
    points = [(t.replace("_", "."), f"aotd-lambda{t}") for t in lambdas] + [("1", "aotd")]
    for lam, variant in sorted(points, key=lambda p: float(p[0])):
        name = f"{variant} - instruct"
        lines.append(f"| λ | {lam} | {acc('instruct')} | {acc(variant)} | {diff(name)} |")
    return "\n".join(lines)


def validation_table(data: dict[str, Any]) -> str | None:
    """Each student's val accuracy after every epoch and the epoch whose weights were kept."""
    val = data.get("validation") or {}
    if not val:
        return None
    epochs = max(len(v["curve"]) for v in val.values())
    lines = ["| student | " + " | ".join(f"epoch {e}" for e in range(1, epochs + 1)) + " | kept |",
             "|---|" + "---:|" * (epochs + 1)]
    for name, v in val.items():
        cells = [f"**{100 * c['score']:.1f}**" if c["epoch"] == v["selected_epoch"] else f"{100 * c['score']:.1f}"
                 for c in v["curve"]]
        lines.append(f"| {name} | " + " | ".join(cells + [""] * (epochs - len(cells))) + f" | {v['selected_epoch']} |")
    return "\n".join(lines)


def timings_table(data: dict[str, Any]) -> str | None:
    t = data.get("timings")
    if not t:
        return None
    lines = ["| stage | seconds |", "|---|---:|"] + [f"| {k} | {v:.0f} |" for k, v in t.items()]
    return "\n".join(lines + [f"| **total** | **{sum(t.values()):.0f}** |"])


def cost_table(data: dict[str, Any]) -> str:
    lines = ["| system | questions | latency per question (s, mean) | peak memory (MiB) |", "|---|---:|---:|---:|"]
    if data["agent"] and data["agent"].get("cost"):
        lines.append(f"| agent | {_covered(data['agent'])} | {data['agent']['cost']['latency_s_mean']:.3f} | "
                     f"{data['agent']['cost']['peak_mb']:.0f} |")
    runs = data["students"].get("aotd", {})
    for seed, r in sorted(runs.items())[:1]:
        # the rationale run computes every question's features afresh (the answer run reuses
        # features kept per video), so its latency is the student's real cost per question
        part = r["rationale"] if r.get("rationale", {}).get("cost") else r["answer"]
        c = part.get("cost")
        if c:
            lines.append(f"| AoTD student (seed {seed}) | {_covered(part)} | {c['latency_s_mean']:.3f} | {c['peak_mb']:.0f} |")
    return "\n".join(lines)


def _covered(summary: dict[str, Any]) -> str:
    """How many questions a cost figure covers; "12 of 104 (partial)" when timings were lost."""
    cost = summary["cost"]
    if cost.get("partial"):
        return f"{cost['samples']} of {cost['of']} (partial: timings lost)"
    return str(cost.get("samples", summary["rows"]))


def verdict(data: dict[str, Any]) -> str:
    """The honest summary line: did CoT distillation help, by how much, beyond the seed spread?"""
    def accs(variant: str) -> list[float]:
        return [a for r in data["students"].get(variant, {}).values() if "answer" in r
                for a in [_acc(r["answer"])] if a is not None]

    base, aotd = accs("instruct"), accs("aotd")
    if not base or not aotd:
        return "Not enough results to compare the AoTD student with the Instruct baseline."
    delta = statistics.fmean(aotd) - statistics.fmean(base)
    direction = "helped" if delta > 0 else "did not help" if delta < 0 else "made no difference"
    text = (f"CoT distillation {direction} here: the AoTD student answers {100 * statistics.fmean(aotd):.1f}% of the "
            f"test questions against {100 * statistics.fmean(base):.1f}% for the Instruct baseline "
            f"({100 * delta:+.1f} points, {len(aotd)} seed(s) each).")
    runs = data["students"]
    boot = paired_bootstrap(*({k: _correct_by_question(r["answer"]) for k, r in runs[v].items() if "answer" in r}
                              for v in ("aotd", "instruct")))
    if boot:
        lo, hi = boot["ci95"]
        clear = lo > 0 or hi < 0
        text += (f" 95% paired bootstrap interval over {boot['questions']} questions and the seeds: "
                 f"[{100 * lo:+.1f}, {100 * hi:+.1f}] points, so the difference is "
                 + ("clear." if clear else "not distinguishable from zero."))
    elif len(aotd) == 1:
        text += " With one seed the spread is unknown; run `aotd demo --seeds 3` before reading much into it."
    return text


# -- statistics -------------------------------------------------------------------------------
def _correct_by_question(summary: dict[str, Any]) -> dict[str, bool]:
    """Per test question, whether a system answered right (from its evaluation rows file)."""
    path = Path(summary.get("rows_file") or "")
    if not path.is_file():
        return {}
    return {r.sample_id: r.correct for r in read_records(path, EvalRow) if r.correct is not None}


def paired_bootstrap(a: dict[int, dict[str, bool]], b: dict[int, dict[str, bool]], *, draws: int = 2000,
                     seed: int = 0) -> dict[str, Any] | None:
    """Accuracy of A minus B with a 95% interval, resampling questions and seeds together.

    ``a`` and ``b`` map seed -> question -> correct. Each draw resamples the questions both
    systems answered (with replacement) and, independently, the seeds of each system, so the
    interval carries both the test set's and the training seed's noise.
    """
    import numpy as np

    questions = sorted(set.intersection(*(set(v) for v in [*a.values(), *b.values()]))) if a and b else []
    if not questions:
        return None
    ma = np.array([[a[k][q] for q in questions] for k in sorted(a)], dtype=float)  # (seeds, questions)
    mb = np.array([[b[k][q] for q in questions] for k in sorted(b)], dtype=float)
    rng = np.random.default_rng(seed)
    diffs = np.empty(draws)
    for i in range(draws):
        qs = rng.integers(0, len(questions), len(questions))
        sa, sb = rng.integers(0, len(ma), len(ma)), rng.integers(0, len(mb), len(mb))
        diffs[i] = ma[np.ix_(sa, qs)].mean() - mb[np.ix_(sb, qs)].mean()
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"difference": float(ma.mean() - mb.mean()), "ci95": [float(lo), float(hi)], "questions": len(questions),
            "seeds": [len(ma), len(mb)], "draws": draws}


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable results (``report/summary.json``): accuracy per variant, seed and
    family; AoTD - Instruct (and each control against its reference) with 95% intervals;
    the text-only and other controls the demo measured; each stage's time."""
    variants: dict[str, Any] = {}
    correct: dict[str, dict[int, dict[str, bool]]] = {}
    for variant, runs in sorted(data["students"].items()):
        per_seed = {}
        for seed, r in sorted(runs.items()):
            if "answer" not in r:
                continue
            a = r["answer"]
            per_seed[str(seed)] = {"overall": _acc(a), **{f: _acc(a, f) for f in FAMILIES}}
            correct.setdefault(variant, {})[seed] = _correct_by_question(a)
        accs = [v["overall"] for v in per_seed.values() if v["overall"] is not None]
        variants[variant] = {"seeds": per_seed, "mean": statistics.fmean(accs) if accs else None,
                             "sd": statistics.stdev(accs) if len(accs) > 1 else None}
    comparisons = {}
    for a, b in (("aotd", "instruct"), ("unfiltered", "instruct"), ("aotd", "unfiltered"),
                 ("aotd-shuffled", "aotd"), ("blind-aotd", "aotd"), ("blind-instruct", "instruct"),
                 *_sweep_pairs(correct)):
        if correct.get(a) and correct.get(b):
            comparisons[f"{a} - {b}"] = paired_bootstrap(correct[a], correct[b])
    agent = data["agent"]
    return {"demo": data["demo"], "agent": None if not agent else {"overall": _acc(agent),
                                                                   **{f: _acc(agent, f) for f in FAMILIES}},
            "variants": variants, "comparisons": comparisons, "controls": data.get("controls") or {},
            "validation": data.get("validation") or {}, "timings_s": data.get("timings") or {},
            "verdict": verdict(data)}


# -- plots ------------------------------------------------------------------------------------
def _plots(data: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    made: list[tuple[str, str]] = []
    # accuracy by family
    systems: list[tuple[str, list[dict[str, Any]]]] = []
    if data["agent"]:
        systems.append(("agent", [data["agent"]]))
    for variant in SYSTEMS:
        runs = [r["answer"] for r in data["students"].get(variant, {}).values() if "answer" in r]
        if runs:
            systems.append((variant, runs))
    fig, ax = plt.subplots(figsize=(8, 4))
    groups = [*FAMILIES, "all"]
    width = 0.8 / max(1, len(systems))
    for i, (name, runs) in enumerate(systems):
        means = [statistics.fmean([_acc(r, None if g == "all" else g) or 0.0 for r in runs]) for g in groups]
        sds = [statistics.stdev([_acc(r, None if g == "all" else g) or 0.0 for r in runs]) if len(runs) > 1 else 0
               for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, [100 * m for m in means], width, yerr=[100 * s for s in sds],
               label=name)
    ax.axhline(25, color="grey", ls="--", lw=1, label="chance")
    ax.set_xticks(np.arange(len(groups)) + width * (len(systems) - 1) / 2, groups)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    made.append(_save(fig, out / "accuracy_by_family.png",
                          "Test accuracy by question family (error bars: spread over seeds)"))
    # filter funnel
    if data["table2"]:
        total = next(r for r in data["table2"]["rows"] if r["dataset"] == "all")
        stages = [("labels", total["labels"]), ("traced", total["traced"]), ("(i) answer ✓", total["answer_ok"]),
                  ("(ii) step-by-step ✓", total["quality_ok"]), ("kept", total["kept"])]
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.barh([s for s, _ in stages][::-1], [n for _, n in stages][::-1], color="tab:green")
        for i, (_, n) in enumerate(stages[::-1]):
            ax.text(n, i, f" {n}", va="center")
        ax.set_xlabel("train questions")
        made.append(_save(fig, out / "filter_funnel.png",
                          "Step 3's filter: how many rationales each stage lets through"))
    # training curves
    curves = _first_seeds(data["histories"])
    if curves:
        fig, ax = plt.subplots(figsize=(9, 4))
        for name, hist in curves:
            for key, style in (("label", "-"), ("rationale", ":")):
                points = [(h["step"], h[key]) for h in hist if h[key] > 0]  # steps whose batch had that segment
                if not points:
                    continue
                steps, vals = [p[0] for p in points], np.array([p[1] for p in points], dtype=float)
                k = min(20, len(vals))
                ax.plot(steps[k - 1:], np.convolve(vals, np.ones(k) / k, mode="valid"), style,
                        label=f"{name} L_{key}")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (running mean)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        made.append(_save(fig, out / "training_curves.png",
                          "Training curves of each variant's first seed: L_label (solid) and L_rationale (dotted)"))
    # grounding IoU histograms
    series = []
    if data["agent"] and data["agent"].get("rows"):
        series.append(("agent", Path(data["agent"]["rows_file"])))
    for variant in ("aotd", "unfiltered"):
        for seed, r in sorted(data["students"].get(variant, {}).items())[:1]:
            if "rationale" in r:
                series.append((f"{variant} seed {seed}", Path(r["rationale"]["rows_file"])))
    if series:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for name, rows_path in series:
            if not rows_path.exists():
                continue
            grounded = [r.grounding for r in read_records(rows_path, EvalRow) if r.grounding]
            for ax, key in zip(axes, ("temporal_ious", "box_ious")):
                vals = [v for g in grounded for v in g[key]]
                if vals:
                    ax.hist(vals, bins=10, range=(0, 1), alpha=0.5, label=name, density=True)
        for ax, title in zip(axes, ("temporal IoU of stated windows", "IoU of stated boxes")):
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7)
        made.append(_save(fig, out / "grounding_iou.png",
                          "Grounding of rationales: IoU histograms (Table 7's numbers are their means)"))
    return made


def _first_seeds(histories: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The training histories worth one plot: each variant's first seed, the sweeps' points left
    to the val-curve table (33 students' curves in one plot are a blur)."""
    first: dict[str, tuple[int, str]] = {}
    for name in histories:
        m = re.fullmatch(_STUDENT, name)
        variant, seed = (m.group(1), int(m.group(2))) if m else (name, 0)
        sweep = _DATA.fullmatch(variant) or _LAMBDA.fullmatch(variant)
        if not sweep and (variant not in first or seed < first[variant][0]):
            first[variant] = (seed, name)
    return [(name, histories[name]) for _, (_, name) in sorted(first.items())]


def _save(fig, path: Path, caption: str) -> tuple[str, str]:  # noqa: ANN001 - a matplotlib Figure
    """Write one plot beside the report and close it; (file name, caption) for the pages."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name, caption


def _examples(data: dict[str, Any], out: Path, n: int = 3) -> list[dict[str, Any]]:
    """A few generated test rationales, each with six of its frames drawn as a strip."""
    runs = data["students"].get("aotd", {})
    rows_path = next((Path(r["rationale"]["rows_file"]) for _, r in sorted(runs.items()) if "rationale" in r), None)
    if rows_path is None or not rows_path.exists():
        return []
    rows = [r for r in read_records(rows_path, EvalRow) if r.rationale]
    rows.sort(key=lambda r: (not r.correct, r.sample_id))
    picked = rows[:n]
    samples = {}
    if picked and data["agent"]:
        from aotd.data.loaders import load_dataset

        samples = {s.sample_id: s for s in load_dataset("star", Path(data["agent"]["data"]), split="test").samples}
    examples = []
    for i, r in enumerate(picked):
        sample = samples.get(r.sample_id)
        examples.append({**r.model_dump(), "image": _strip(sample, out / f"example_{i}.png") if sample else None})
    return examples


def _strip(sample: QASample, path: Path) -> str:
    import numpy as np
    from PIL import Image

    from aotd.data.video import sample_video

    frames = sample_video(sample.video.path, start_s=sample.start, end_s=sample.end).frames
    picks = np.linspace(0, len(frames) - 1, 6).round().astype(int)
    Image.fromarray(np.concatenate([frames[i] for i in picks], axis=1)).save(path)
    return path.name


# -- writing ----------------------------------------------------------------------------------
def write_report(run: Path, out: Path) -> Path:
    data = collect(run)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(data, out)
    examples = _examples(data, out)
    demo = data["demo"]
    parts: list[tuple[str, str]] = [("text", f"**{verdict(data)}**")]
    if demo:
        parts.append(("text", f"World: {demo.get('videos')} videos, seed {demo.get('seed')}; size `{demo.get('size')}`; "
                              f"students trained for {demo.get('epochs')} epochs with seeds "
                              f"{demo.get('seed')}..{demo.get('seed', 0) + demo.get('seeds', 1) - 1}."))
    parts.append(("h2", "Tables 4 and 6 in miniature: accuracy on the held-out test split"))
    parts.append(("table", accuracy_table(data)))
    comparisons = summary(data)["comparisons"]
    if comparisons:
        rows = ["| comparison | difference (points) | 95% interval | questions | seeds |", "|---|---:|---:|---:|---:|"]
        for name, c in comparisons.items():
            if c:
                rows.append(f"| {name} | {100 * c['difference']:+.1f} | [{100 * c['ci95'][0]:+.1f}, "
                            f"{100 * c['ci95'][1]:+.1f}] | {c['questions']} | {c['seeds'][0]} vs {c['seeds'][1]} |")
        parts += [("text", "Paired bootstrap over test questions and training seeds (2,000 draws):"),
                  ("table", "\n".join(rows))]
    sweeps = sweeps_table(data, comparisons)
    if sweeps:
        parts += [("h2", "Sweeps: the share of labels and λ"),
                  ("text", "Instruct and AoTD on the same seeded share of the train labels (where Distilling "
                           "Step-by-Step reports its largest gains), and AoTD with other weights on L_rationale; "
                           "every point with the same budget and selection on val."),
                  ("table", sweeps)]
    if controls_table(data):
        parts += [("h2", "Controls: what text alone answers"), ("table", controls_table(data))]
    parts.append(("h2", "Table 7: grounding of rationales"))
    parts.append(("table", grounding_table(data)))
    parts.append(("h2", "Cost: the agent against the distilled student, same test questions"))
    parts.append(("table", cost_table(data)))
    if data["table1"]:
        parts += [("h2", "Table 1: tool selection (step 1)"), ("table", data["table1"].strip())]
    if data["table2"]:
        from aotd.cot.stats import markdown

        parts += [("h2", "Table 2: CoT verification (step 3)"), ("table", markdown(data["table2"]).strip())]
    if validation_table(data):
        parts += [("h2", "Training length, chosen on the val split"),
                  ("text", "Val accuracy (%) after each epoch; every student keeps its best epoch's weights (the "
                           "earliest of equals), by the same rule for every variant."),
                  ("table", validation_table(data))]
    if timings_table(data):
        parts += [("h2", "Where the demo's time went"), ("table", timings_table(data))]
    parts.append(("h2", "Plots"))
    for name, caption in plots:
        parts.append(("image", f"{name}|{caption}"))
    if examples:
        parts.append(("h2", "Example rationales written by the AoTD student (test split)"))
        for e in examples:
            head = (f"`{e['sample_id']}` — {e['question']} Label: {e['answer']}; "
                    f"student: {e.get('prediction')} ({'right' if e.get('correct') else 'wrong'}).")
            parts.append(("text", head))
            if e.get("image"):
                parts.append(("image", f"{e['image']}|six of the 32 frames"))
            parts.append(("quote", e["rationale"]))
    (out / "README.md").write_text(_markdown(parts))
    (out / "index.html").write_text(_html(parts))
    (out / "report.json").write_text(json.dumps({"verdict": verdict(data), "agent": data["agent"],
                                                 "students": data["students"]}, indent=2, default=str))
    (out / "summary.json").write_text(json.dumps(summary(data), indent=2) + "\n")
    return out


def _markdown(parts: list[tuple[str, str]]) -> str:
    lines = ["# AoTD demo report", ""]
    for kind, text in parts:
        if kind == "h2":
            lines += [f"## {text}", ""]
        elif kind == "image":
            name, caption = text.split("|", 1)
            lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
        elif kind == "quote":
            lines += ["> " + text, ""]
        else:
            lines += [text, ""]
    return "\n".join(lines)


def _html(parts: list[tuple[str, str]]) -> str:
    body = ["<h1>AoTD demo report</h1>"]
    for kind, text in parts:
        if kind == "h2":
            body.append(f"<h2>{html.escape(text)}</h2>")
        elif kind == "image":
            name, caption = text.split("|", 1)
            body.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "quote":
            body.append(f"<blockquote>{html.escape(text)}</blockquote>")
        elif kind == "table":
            body.append(_table_html(text))
        else:
            body.append(f"<p>{html.escape(text).replace('**', '')}</p>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:14px}"
             "img{max-width:100%}blockquote{background:#f4f4f4;padding:.6em 1em;margin:.5em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>AoTD demo report</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def _table_html(markdown: str) -> str:
    rows = [line.strip().strip("|").split("|") for line in markdown.splitlines() if line.strip().startswith("|")]
    rows = [r for r in rows if not all(set(c.strip()) <= set("-:") for c in r)]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip().replace('**', ''))}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
