"""LLM backends against a real local HTTP server and a tiny random model; the reply cache."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_llm import FakeServer, running_server

from aotd.llm import CachedBackend, LLMError, OpenAICompatibleBackend, ReplyCache
from aotd.llm.openai_compat import TURN_STOP, transcript

MESSAGES = [{"role": "system", "content": "Write code."}, {"role": "user", "content": "Hi"}]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with running_server() as fake:
        yield fake


def test_canned_completion_and_request_body(server: FakeServer) -> None:
    server.script = ["ok"]
    with server.backend(api_key="secret") as llm:
        reply = llm.complete(MESSAGES, temperature=0.2, max_tokens=64, stop=["```\n"])
    assert reply.startswith("def execute_command")
    (request,) = server.requests
    assert request == {"path": "/v1/chat/completions", "model": "tiny-model", "messages": MESSAGES,
                       "temperature": 0.2, "max_tokens": 64, "stop": ["```\n"]}
    assert server.headers[0]["Authorization"] == "Bearer secret"


def test_base_url_may_already_end_in_v1(server: FakeServer) -> None:
    server.script = ["ok"]
    with OpenAICompatibleBackend(server.url + "/v1/", "m") as llm:
        llm.complete(MESSAGES)
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_retries_5xx_and_429_then_succeeds(server: FakeServer) -> None:
    server.script = ["500", "429", "ok"]
    with server.backend() as llm:
        assert llm.complete(MESSAGES).startswith("def")
    assert len(server.requests) == 3


def test_gives_up_after_retries_naming_server_and_status(server: FakeServer) -> None:
    server.script = ["500"]
    with server.backend(max_retries=1) as llm, pytest.raises(LLMError, match=r"127\.0\.0\.1.*HTTP 500.*2 attempts"):
        llm.complete(MESSAGES)
    assert len(server.requests) == 2


def test_other_4xx_fails_at_once(server: FakeServer) -> None:
    server.script = ["400"]
    with server.backend() as llm, pytest.raises(LLMError, match="HTTP 400.*bad model"):
        llm.complete(MESSAGES)
    assert len(server.requests) == 1


def test_hanging_server_times_out(server: FakeServer) -> None:
    server.script = ["hang"]
    start = time.monotonic()
    with server.backend(timeout_s=0.2, max_retries=1) as llm, pytest.raises(LLMError, match="timed out"):
        llm.complete(MESSAGES)
    assert time.monotonic() - start < 2.0
    assert len(server.requests) == 2


@pytest.mark.parametrize(("step", "problem"), [("garbage", "not JSON.*<html>"), ("nochoices", "without choices")])
def test_malformed_replies(server: FakeServer, step: str, problem: str) -> None:
    server.script = [step]
    with server.backend() as llm, pytest.raises(LLMError, match=rf"{server.url}.*{problem}"):
        llm.complete(MESSAGES)
    assert len(server.requests) == 1  # a malformed 200 is not retried


def test_unreachable_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAICompatibleBackend(f"http://127.0.0.1:{port}", "m", max_retries=1, backoff_s=0.01)
    with llm, pytest.raises(LLMError, match="cannot be reached"):
        llm.complete(MESSAGES)


def test_concurrency_is_capped(server: FakeServer) -> None:
    server.script = ["slow"]
    with server.backend(max_concurrency=2) as llm:
        threads = [threading.Thread(target=llm.complete, args=(MESSAGES,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


# --- completion API --------------------------------------------------------------------------
def test_completion_api_posts_a_transcript_and_reads_text(server: FakeServer) -> None:
    server.script = ["ok"]
    with server.backend(api="completion") as llm:
        reply = llm.complete(MESSAGES, temperature=0.2, max_tokens=64, stop=["```\n"])
        assert (llm.name, llm.url) == ("openai-completion", server.url + "/v1/completions")
    assert reply.startswith("def execute_command")
    (request,) = server.requests
    assert request == {"path": "/v1/completions", "model": "tiny-model", "temperature": 0.2, "max_tokens": 64,
                       "prompt": "system: Write code.\n\nuser: Hi\n\nassistant:", "stop": ["```\n", TURN_STOP]}
    assert transcript(MESSAGES) == request["prompt"]


def test_completion_stop_sequences(server: FakeServer) -> None:
    server.script = ["ok"]
    with OpenAICompatibleBackend(server.url + "/v1", "m", api="completion") as llm:
        llm.complete(MESSAGES)
        llm.complete(MESSAGES, stop=["a", "b", "c", "d"])  # the API takes four: the caller's win
        llm.complete(MESSAGES, stop=[TURN_STOP])
    assert [r["stop"] for r in server.requests] == [[TURN_STOP], ["a", "b", "c", "d"], [TURN_STOP]]
    assert {r["path"] for r in server.requests} == {"/v1/completions"}


def test_completion_api_retries_and_fails_like_chat(server: FakeServer) -> None:
    server.script = ["500", "429", "reply:def f(): pass"]
    with server.backend(api="completion") as llm:
        assert llm.complete(MESSAGES) == "def f(): pass"
    assert len(server.requests) == 3
    server.script = ["hang"]
    with server.backend(api="completion", timeout_s=0.2, max_retries=1) as llm, pytest.raises(LLMError, match="timed out"):
        llm.complete(MESSAGES)
    for step, problem in [("nochoices", r"without choices\[0\]\.text"), ("garbage", "not JSON"), ("400", "HTTP 400")]:
        server.script = [step]
        with server.backend(api="completion") as llm, pytest.raises(LLMError, match=rf"/v1/completions.*{problem}"):
            llm.complete(MESSAGES)


def test_completion_api_rejects_a_chat_reply(server: FakeServer) -> None:
    server.script = ["ok"]
    with server.backend(api="completion") as llm:
        llm.url = server.url + "/v1/chat/completions"  # a server that answers a completion with a chat message
        with pytest.raises(LLMError, match=r"without choices\[0\]\.text"):
            llm.complete(MESSAGES)
    with pytest.raises(LLMError, match="chat or completion"):
        OpenAICompatibleBackend(server.url, "m", api="edit")  # type: ignore[arg-type]


def test_chat_and_completion_replies_are_cached_apart(server: FakeServer, tmp_path: Path) -> None:
    server.script = ["reply:chat", "reply:text"]
    cache = ReplyCache(tmp_path)
    with server.backend() as chat, server.backend(api="completion") as text:
        assert CachedBackend(chat, cache).complete(MESSAGES) == "chat"
        assert CachedBackend(text, cache).complete(MESSAGES) == "text"
        assert CachedBackend(text, cache).complete(MESSAGES) == "text"
    assert len(server.requests) == 2 and len(cache) == 2


def test_config_api_reaches_the_backend_and_keeps_old_digests(server: FakeServer, tmp_path: Path) -> None:
    from aotd.agent.build import build_planner
    from aotd.config import AGENT_SECTIONS, Config, CotConfig, PlannerConfig
    from aotd.errors import AotdError
    from aotd.llm.build import build_backend

    planner_cfg = PlannerConfig(kind="llm", backend="openai", model="tiny-model", base_url=server.url, api="completion",
                                temperature=0.3, max_tokens=77, timeout_s=0.5, max_retries=0)
    planner = build_planner(planner_cfg, cache_dir=tmp_path)
    assert planner.name == "llm:openai-completion:tiny-model" and (planner.temperature, planner.max_tokens) == (0.3, 77)
    inner = planner.backend.backend
    assert (inner.api, inner.max_retries, inner._client.timeout.read) == ("completion", 0, 0.5)
    cot = CotConfig(converter="llm", backend="openai", model="m", base_url=server.url, api="completion")
    assert build_backend(cot, section="cot").name == "openai-completion"
    with pytest.raises(AotdError, match="planner.api"):
        build_backend(PlannerConfig(backend="transformers", model="some/model", api="completion"), section="planner")
    # a field at its default is left out of the dump, so configs (and records) from before it keep their digest
    dump = Config().model_dump()
    assert set(dump["planner"]) == {"kind", "backend", "model", "base_url", "temperature", "max_tokens"}
    assert "api" not in dump["cot"]
    assert Config(planner=PlannerConfig(api="chat", timeout_s=60, max_retries=3)).digest(*AGENT_SECTIONS) \
        == Config().digest(*AGENT_SECTIONS)
    assert Config(planner=planner_cfg).model_dump()["planner"]["api"] == "completion"
    assert Config.model_validate(Config(planner=planner_cfg, cot=cot).model_dump()) == Config(planner=planner_cfg, cot=cot)


# --- reply cache --------------------------------------------------------------------------
class CountingBackend:
    name, model = "fake", "echo"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: list[dict[str, str]], *, temperature: float = 0.0, max_tokens: int = 512,
                 stop: list[str] | None = None) -> str:
        self.calls += 1
        return f"reply {self.calls} to {messages[-1]['content']}"


def test_cache_replays_identical_requests(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, ReplyCache(tmp_path))
    first = cached.complete(MESSAGES)
    assert cached.complete(MESSAGES) == first
    assert (inner.calls, cached.hits, cached.misses) == (1, 1, 1)
    cached.complete(MESSAGES, max_tokens=10)  # other parameters, other entry
    cached.complete([*MESSAGES[:1], {"role": "user", "content": "Bye"}])
    assert inner.calls == 3
    assert len(ReplyCache(tmp_path)) == 3
    assert not list(tmp_path.rglob(".tmp-*"))
    again = CachedBackend(CountingBackend(), ReplyCache(tmp_path))  # a new process reads the same files
    assert again.complete(MESSAGES) == first and again.backend.calls == 0  # type: ignore[attr-defined]


def test_cache_skips_sampled_requests_and_survives_corrupt_entries(tmp_path: Path) -> None:
    inner = CountingBackend()
    cache = ReplyCache(tmp_path)
    cached = CachedBackend(inner, cache)
    assert cached.complete(MESSAGES, temperature=0.7) != cached.complete(MESSAGES, temperature=0.7)
    assert len(cache) == 0
    cached.complete(MESSAGES)
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text("{truncated")
    assert cached.complete(MESSAGES) == "reply 4 to Hi"
    assert json.loads(entry.read_text())["reply"] == "reply 4 to Hi"


def test_cache_key_covers_backend_model_messages_and_params() -> None:
    base = ReplyCache.key("openai", "m", MESSAGES, {"temperature": 0.0})
    assert base == ReplyCache.key("openai", "m", [dict(m) for m in MESSAGES], {"temperature": 0.0})
    assert len({base, ReplyCache.key("hf", "m", MESSAGES, {"temperature": 0.0}),
                ReplyCache.key("openai", "m2", MESSAGES, {"temperature": 0.0}),
                ReplyCache.key("openai", "m", MESSAGES[1:], {"temperature": 0.0}),
                ReplyCache.key("openai", "m", MESSAGES, {"temperature": 0.5})}) == 5


# --- transformers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    out = tmp_path_factory.mktemp("tiny-llama")
    corpus = ["def execute_command(video, question, choices):", "return choose(choices, answer)",
              "user: Which object was taken by the person?", "assistant: the book the cup the box",
              "system: write a program"]
    model = tokenizers.models.WordLevel(unk_token="[UNK]")
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, tokenizers.trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[BOS]", "[EOS]"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                bos_token="[BOS]", eos_token="[EOS]")
    fast.save_pretrained(out)
    config = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                                      pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                                      eos_token_id=fast.eos_token_id)
    transformers.LlamaForCausalLM(config).save_pretrained(out)
    return out


def test_transformers_backend_generates_text(tiny_llama: Path) -> None:
    from aotd.llm.hf import TransformersBackend

    llm = TransformersBackend(tiny_llama)
    assert llm.prompt(MESSAGES).endswith("user: Hi\nassistant:")
    reply = llm.complete(MESSAGES, max_tokens=6)
    assert isinstance(reply, str)
    assert isinstance(llm.complete(MESSAGES, temperature=0.8, max_tokens=4), str)


def test_transformers_backend_uses_the_chat_template(tiny_llama: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from aotd.llm.hf import TransformersBackend

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    tok.chat_template = ("{% for m in messages %}[BOS] {{ m['role'] }} : {{ m['content'] }} [EOS] {% endfor %}"
                         "{% if add_generation_prompt %}[BOS] assistant : {% endif %}")
    tok.save_pretrained(tmp_path)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_llama / name).exists():
            (tmp_path / name).write_bytes((tiny_llama / name).read_bytes())
    llm = TransformersBackend(tmp_path)
    assert llm.prompt(MESSAGES).endswith("[BOS] assistant : ")
    assert isinstance(llm.complete(MESSAGES, max_tokens=4, stop=["book"]), str)


def test_transformers_backend_reports_a_missing_model(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from aotd.llm.hf import TransformersBackend

    with pytest.raises(LLMError, match="cannot load model"):
        TransformersBackend(tmp_path / "nowhere").complete(MESSAGES)
