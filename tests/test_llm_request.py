"""The optional LLM reading of requests: a schema-constrained call whose validated answer
becomes the same typed Request; the rules are the fallback. Run against llama-cpp-python's
own OpenAI-compatible server (tests/llama_server.py) as the explainer tests are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llama_server import SERVER_KEY, free_port

from musechat_tui.config import load_settings
from musechat_tui.engine.llm_request import (
    SCHEMA,
    LLMRequest,
    OpenAIRequestLLM,
    RequestLLM,
    RequestLLMError,
    build_request_llm,
    parse_with_llm,
    read_request,
    to_request,
)
from musechat_tui.engine.requests import NameBook, parse_request

NAMES = NameBook.build(["Scott Joplin", "W. A. Mozart"], {1: "Maple Leaf Rag"})


class Replay(RequestLLM):
    """A backend that answers with given text: what a model's reply is turned into is
    what these tests check (the real backends are tested against the server below)."""

    id = "replay"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def complete(self, messages: list[dict[str, str]], schema: dict[str, object]) -> str:
        assert schema == SCHEMA and messages[-1]["role"] == "user"
        return self.reply


def test_a_valid_reading_becomes_the_typed_request() -> None:
    reply = {
        "concepts": [{"concept": "drums", "polarity": "exclude"}],
        "tempo": {"direction": "range", "around_bpm": 120},
        "duration": {"at_least_the_video": True},
        "artists": [
            {"name": "mozart", "mode": "only"},
            {"name": "Invented Band", "mode": "like"},  # not in the catalog: dropped
        ],
        "key": {"mode": "minor", "tonic": "A"},
        "use": "wedding",
        "references": [{"rank": 2, "action": "reject"}],
    }
    text = "no drums, ~120 bpm, as long as the video, only mozart, A minor, wedding, not #2"
    rules = parse_request(text, NAMES)
    req, reader = read_request(text, NAMES, rules, Replay(json.dumps(reply)))
    assert reader == "llm"
    got = req.understood
    assert {"no drums", "110-130 bpm", "duration >= the video", "only W. A. Mozart"} <= set(got)
    assert {"key A minor", "reject #2"} <= set(got)
    assert any(u.startswith("use wedding → ") for u in got)
    assert not any("Invented" in u for u in got)


@pytest.mark.parametrize(
    "reply",
    [
        "not json at all",
        '{"concepts": [{"concept": "bagpipes", "polarity": "want"}]}',  # not a concept
        '{"tempo": {"direction": "range", "low_bpm": 5000}}',  # out of bounds
        '{"use": "moon landing"}',
    ],
)
def test_an_invalid_reading_falls_back_to_the_rules(reply: str) -> None:
    with pytest.raises(RequestLLMError):
        parse_with_llm(Replay(reply), "no drums")
    rules = parse_request("no drums", NAMES)
    req, reader = read_request("no drums", NAMES, rules, Replay(reply))
    assert reader == "rules" and req is rules


def test_the_schema_holds_the_engine_vocabulary() -> None:
    text = json.dumps(SCHEMA)
    assert "female vocals" in text and "travel vlog" in text and "F#" in text
    assert LLMRequest.model_validate({}).concepts == []


def test_settings_choose_the_rules_unless_a_bigger_model_is_configured(tmp_path: Path) -> None:
    assert build_request_llm(load_settings(tmp_path / "none.toml")) is None
    small = tmp_path / "tiny.gguf"
    small.write_bytes(b"GGUF")
    assert build_request_llm(load_settings(tmp_path / "none.toml", llm_model=small)) is None
    rules = load_settings(
        tmp_path / "none.toml", openai_base_url="http://x/v1", request_parser="rules"
    )
    assert build_request_llm(rules) is None


def test_an_unreachable_endpoint_falls_back_at_once() -> None:
    llm = OpenAIRequestLLM(f"http://127.0.0.1:{free_port()}/v1", "none", timeout_s=5)
    rules = parse_request("slower, no vocals", NAMES)
    req, reader = read_request("slower, no vocals", NAMES, rules, llm)
    assert reader == "rules" and req.understood == ["no vocals", "instrumental", "slower"]
    llm.close()


def test_llama_cpp_server_reads_a_request_within_the_schema(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSECHAT_OPENAI_API_KEY", SERVER_KEY)
    llm = OpenAIRequestLLM(llama_server, "smollm2", timeout_s=120)
    try:
        text = "no drums please, and a bit faster"
        parsed = parse_with_llm(llm, text)  # valid JSON of the schema, from the grammar
        req = to_request(parsed, text, NAMES, parse_request(text, NAMES))
        assert isinstance(req.understood, list)
        assert llm._form == "json_object"  # llama.cpp's server takes its own format
    finally:
        llm.close()
