"""The trace viewer: escaping, file names, odd records, and real pages opened in headless Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from aotd.data.records import CotRecord, TraceRecord, Verdict
from aotd.errors import AotdError
from aotd.view import page_names, write_site

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
HOSTILE = '<script>alert("x")</script>'


def _trace(sample_id: str = "s1", **fields) -> TraceRecord:
    base = {"sample_id": sample_id, "dataset": "star", "split": "train", "video_id": "v1",
            "question_type": "Interaction", "question": "What did the person do with the dish?",
            "choices": ["Took.", "Held.", "Opened.", "Put down."], "label": "Took.", "planner": "rules"}
    return TraceRecord(**{**base, **fields})


def _clip(first: int = 0, last: int = 31) -> dict:
    return {"video_id": "v1", "frames": [first, last], "count": last - first + 1}


def _sandbox(calls: list[dict], value: object = "Took.", error: dict | None = None) -> dict:
    full = [{"args": [], "kwargs": {}, "output": None, "error": None, "line": None, **c} for c in calls]
    return {"ok": error is None, "value": value if error is None else None, "error": error, "calls": full,
            "stdout": "", "ops": 10}


def _cot(trace: TraceRecord, rationale: str | None = "First, I look at frame 3. So the answer is: Took.",
         kept: bool = True, **fields) -> CotRecord:
    verdicts = {"answer": Verdict(passed=trace.correct, method="exact"),
                "quality": Verdict(passed=kept, method="rules", reason=None if kept else "grounded")}
    return CotRecord(sample_id=trace.sample_id, dataset=trace.dataset, split=trace.split, video_id=trace.video_id,
                     question_type=trace.question_type, question=trace.question, choices=trace.choices,
                     label=trace.label, prediction=trace.prediction, rationale=rationale, converter="rules",
                     kept=kept, trace=trace, **{**verdicts, **fields})


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path


def _pages(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.html"))}


# --------------------------------------------------------------------------- unit tests

def test_hostile_text_is_escaped_everywhere(tmp_path: Path) -> None:
    trace = _trace(
        sample_id=f"id{HOSTILE}", question=f"Q {HOSTILE}?", choices=["<img src=x onerror=alert(1)>", "Held."],
        label="Held.", prediction="Held.", correct=True, question_type=HOSTILE, planner=HOSTILE,
        tools={"detection": HOSTILE}, provenance={"config": HOSTILE},
        program=f"def execute_command(video, question, choices):\n    # </td></tr></table>{HOSTILE}\n"
                "    return choose(choices, 'x')\n",
        sandbox=_sandbox([
            {"name": "detect", "args": [_clip(), HOSTILE], "line": 2,
             "output": [{"frame": 1, "box": [1, 2, 30, 40], "label": f'"><svg onload=alert(1)>{HOSTILE}', "score": 1}]},
            {"name": f"<b>{HOSTILE}</b>", "args": [HOSTILE], "line": 3, "output": HOSTILE, "error": HOSTILE},
        ], value="Held."),
    )
    cot = _cot(trace, rationale=f"First, {HOSTILE} in frame 1. So the answer is: <b>Held.</b>",
               answer=Verdict(passed=True, method=HOSTILE, reason=HOSTILE, reply=HOSTILE))
    records = _write_jsonl(tmp_path / "cots.jsonl", [cot])
    write_site(records, tmp_path / "site")
    pages = _pages(tmp_path / "site")
    assert len(pages) == 2
    for name, text in pages.items():
        low = text.lower()
        assert "<script" not in low, name
        assert "<img src=x" not in low and "<svg onload" not in low and "<b>held." not in low, name
        assert "&lt;script&gt;" in text, name  # the text is there, as text
    sample = next(t for n, t in pages.items() if n.startswith("samples/"))
    assert sample.count('class="frame missing has"') == 1  # no frames, yet the detection is marked on frame 1


def test_page_names_are_safe_distinct_and_deterministic() -> None:
    ids = ["Interaction_T2_1", "a/b", "a_b", "A_B", "a_b", "../../etc/passwd", ".hidden", "", "con", "x" * 300,
           "x" * 301, "é", "e", "sp ace", "a~b", "index"]
    names = page_names(ids)
    assert names == page_names(ids)
    assert names[0] == "Interaction_T2_1" and names[2] == "a_b"  # ordinary ids keep their name
    assert len({n.casefold() for n in names}) == len(ids)
    for n in names:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._~-]*", n), n
        assert len(n) <= 100
    assert names[1] != names[2]  # "a/b" is not "a_b"


def test_a_failed_trace_without_sandbox_still_gets_a_page(tmp_path: Path) -> None:
    planned = _trace("plan_failed", failure="plan:empty_program", error="the planner returned nothing")
    crashed = _trace("runtime", program="def execute_command(video, question, choices):\n    return 1 / 0\n",
                     failure="sandbox:runtime", error="line 2: ZeroDivisionError: division by zero",
                     sandbox=_sandbox([], error={"kind": "runtime", "message": "line 2: ZeroDivisionError", "line": 2}))
    records = _write_jsonl(tmp_path / "traces.jsonl", [planned, crashed])
    index = write_site(records, tmp_path / "site")
    pages = _pages(tmp_path / "site")
    plan_page, run_page = pages["samples/plan_failed.html"], pages["samples/runtime.html"]
    assert "failed: plan:empty_program" in plan_page and "no program" in plan_page
    assert "frames unavailable: no dataset given" in plan_page
    assert 'id="rationale"' not in plan_page  # a bare trace has no rationale section
    assert '<tr class="err" id="L2"><td class="n">2</td>' in run_page and "ZeroDivisionError" in run_page
    assert "2</b><span>failed traces" in index.read_text(encoding="utf-8")


def test_a_torn_line_is_skipped_and_reported(tmp_path: Path) -> None:
    good = [_trace(f"s{i}", prediction="Took.", correct=True) for i in range(3)]
    lines = [r.model_dump_json() for r in good]
    lines[1] = lines[1][: len(lines[1]) // 2]
    records = tmp_path / "traces.jsonl"
    records.write_text("\n".join(lines) + "\n" + '{"no_id": 1}\n', encoding="utf-8")
    index = write_site(records, tmp_path / "site").read_text(encoding="utf-8")
    assert "traces.jsonl:2: truncated or malformed JSON" in index
    assert "traces.jsonl:4: not a record (no sample_id)" in index
    assert sorted(_pages(tmp_path / "site")) == ["index.html", "samples/s0.html", "samples/s2.html"]


def test_open_ended_pages_and_limit(tmp_path: Path) -> None:
    records = [_trace(f"oe{i}", choices=[], label="Took the dish.", prediction="took dish", correct=True)
               for i in range(3)]
    path = _write_jsonl(tmp_path / "traces.jsonl", [_cot(t) for t in records])
    write_site(path, tmp_path / "site", limit=2)
    pages = _pages(tmp_path / "site")
    assert sorted(pages) == ["index.html", "samples/oe0.html", "samples/oe1.html"]
    assert "Took the dish." in pages["samples/oe0.html"] and "took dish" in pages["samples/oe0.html"]
    assert 'href="oe1.html"' in pages["samples/oe0.html"] and 'href="../index.html"' in pages["samples/oe0.html"]


def test_missing_inputs_raise_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(AotdError, match="nowhere.jsonl"):
        write_site(tmp_path / "nowhere.jsonl", tmp_path / "site")
    records = _write_jsonl(tmp_path / "t.jsonl", [_trace()])
    with pytest.raises(AotdError, match="no-such-dataset"):
        write_site(records, tmp_path / "site", data=tmp_path / "no-such-dataset")


def test_an_unknown_sample_notes_why_it_has_no_frames(tmp_path: Path, world_dir: Path) -> None:
    records = _write_jsonl(tmp_path / "t.jsonl", [_trace("not-in-the-world")])
    write_site(records, tmp_path / "site", data=world_dir)
    assert "frames unavailable: the sample is not in the dataset" in _pages(tmp_path / "site")[
        "samples/not-in-the-world.html"]


# --------------------------------------------------------------------------- a real site

@pytest.fixture(scope="module")
def real_cots(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CoT records of one question per family of the session world (cheap tools, rule planner)."""
    from conftest import cheap_config

    from aotd.agent.stage import AgentStage, run_agent
    from aotd.cot.convert import RuleConverter
    from aotd.cot.stage import build_cot
    from aotd.cot.verify import NormalizedAnswer, RuleJudge
    from aotd.data.loaders import load_dataset
    from aotd.data.records import TraceRecord, read_records

    folder = tmp_path_factory.mktemp("view")
    samples, families = [], set()
    for s in load_dataset("star", world_dir).by_split("train"):
        if s.question_type not in families:
            families.add(s.question_type)
            samples.append(s)
    run_agent(samples, AgentStage(cheap_config()), folder / "traces.jsonl", progress=False)
    traces = read_records(folder / "traces.jsonl", TraceRecord)
    if not any(c["name"] == "detect" and c["output"] for t in traces for c in (t.sandbox or {}).get("calls", [])):
        # the rule planner's programs may not call detect: give one trace a real-looking detection
        assert traces[0].sandbox is not None
        traces[0].sandbox["calls"].insert(0, {"name": "detect", "args": [_clip(), "person"], "kwargs": {}, "line": 1,
                                              "error": None,
                                              "output": [{"frame": f, "box": [40, 30, 90, 150], "label": "person",
                                                          "score": 0.9} for f in range(0, 32, 3)]})
    cots = [build_cot(t, RuleConverter(), RuleJudge(), NormalizedAnswer()) for t in traces]
    return _write_jsonl(folder / "cots.jsonl", cots)


def test_a_real_site_is_deterministic_and_relative(real_cots: Path, world_dir: Path, tmp_path: Path) -> None:
    a = write_site(real_cots, tmp_path / "a", data=world_dir).parent
    b = write_site(real_cots, tmp_path / "b", data=world_dir).parent
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    assert sum(f.suffix == ".jpg" for f in files_a) == 32 * 4
    for name, text in _pages(a).items():
        assert str(tmp_path) not in text and "file:" not in text, name
        assert "frames unavailable" not in text, name


def _browser():
    """Playwright's sync API and Debian's chromium, or a skip (a failure under AOTD_REQUIRE_BROWSER=1)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("AOTD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AOTD_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


def test_pages_render_in_headless_chromium(real_cots: Path, world_dir: Path, tmp_path: Path) -> None:
    sync_playwright = _browser()
    from PIL import Image, ImageStat

    site = write_site(real_cots, tmp_path / "built", data=world_dir).parent
    moved = tmp_path / "moved elsewhere"  # pages must work after the folder moves (and with a space in the path)
    shutil.move(site, moved)
    cots = [json.loads(line) for line in real_cots.read_text().splitlines()]
    with_boxes = next(c["sample_id"] for c in cots
                      if any(k["name"] == "detect" and k["output"] for k in c["trace"]["sandbox"]["calls"]))
    page_url = (moved / "samples" / f"{page_names([with_boxes])[0]}.html").as_uri()

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed to load {r.url}"))
            page.goto(page_url, wait_until="load")
            thumbs = page.locator("img.thumb")
            assert thumbs.count() == 32
            loaded = page.evaluate("Array.from(document.querySelectorAll('img.thumb')).every(i => i.naturalWidth > 0)")
            assert loaded, "a thumbnail did not load"
            assert page.locator("svg.boxes rect.box").count() > 0
            assert page.locator("#timeline .tl-row .bar").count() > 0
            assert page.locator("#program table.prog tr").count() > 3
            assert page.locator("#rationale li").count() >= 2
            shot = Image.open(io.BytesIO(page.screenshot()))
            page.click("a.frame.has >> nth=0")  # the enlarged frame opens without script
            assert page.locator(".zoom:target").is_visible()
            page.goto((moved / "index.html").as_uri(), wait_until="load")
            assert page.locator("table.index tbody tr").count() == len(cots)
            page.click("table.index a >> nth=0")
            assert page.locator("h1").inner_text() == cots[0]["sample_id"]
        finally:
            browser.close()
    assert problems == []
    rgb = shot.convert("RGB")
    assert rgb.size == (1280, 1000)
    assert len(rgb.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 500  # text, frames, boxes: not blank
    assert min(ImageStat.Stat(rgb).stddev) > 20
