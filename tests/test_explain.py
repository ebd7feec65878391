"""Explanations: the template, the grounding check, llama.cpp on the packaged SmolLM2 (chat and
prefix embeddings), an OpenAI-compatible endpoint (llama-cpp-python's own server on
localhost), and the guard's fallbacks (a server that accepts and never answers, a closed
port, an LLM that names another track)."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_server import SERVER_KEY, free_port

from musechat_tui.config import load_settings
from musechat_tui.errors import ConfigError, ModelLoadError
from musechat_tui.explain import (
    Done,
    Explainer,
    ExplainerError,
    ExplanationFacts,
    GuardedExplainer,
    Replace,
    TemplateExplainer,
    Token,
    TrackFacts,
    build_explainer,
    build_guarded_explainer,
    check_grounding,
    load_tag_vocabulary,
    template_text,
)
from musechat_tui.explain.facts import VideoCue
from musechat_tui.explain.grounding import contradictions
from musechat_tui.explain.llama import (
    LlamaCppExplainer,
    PrefixLlamaExplainer,
    chatml_prefix_layout,
    packaged_model_path,
)
from musechat_tui.explain.openai_backend import OpenAIExplainer

PIANO = TrackFacts(
    title="Morning Light",
    artist="Anna Berg",
    album=None,
    year=2019,
    duration=184.0,
    bpm=72.0,
    loudness_db=-28.0,
    tags=("piano", "classical", "slow", "quiet", "instrumental", "solo"),
)
SYNTH = TrackFacts(
    title="Night Drive",
    artist="The Voltage",
    album="Neon",
    year=None,
    duration=201.0,
    bpm=128.0,
    loudness_db=-9.0,
    tags=("electronic", "drums", "techno", "female vocal", "80s", "dance"),
)
ROCK = TrackFacts(
    title="Iron Road",
    artist="Grey Owls",
    album=None,
    year=1994,
    duration=240.0,
    bpm=140.0,
    loudness_db=-10.0,
    tags=("rock", "guitar", "male vocal", "loud", "hard rock"),
)
LAKE = "bright, muted, still video showing lakeside, boathouse, seashore"
CITY = "dark, colourful, fast-moving video showing sports car, racer, traffic light"
FIRST = ExplanationFacts(track=PIANO, rank=1, video=LAKE)
LATER = ExplanationFacts(
    track=PIANO,
    rank=1,
    video=LAKE,
    request="slower, no vocals, more piano",
    previous=SYNTH,
    matched=("slower", "no vocals", "piano"),
)


# -- template ---------------------------------------------------------------------------------


def test_template_is_deterministic_and_says_the_facts() -> None:
    text = template_text(FIRST)
    assert text == TemplateExplainer().explain(FIRST) == template_text(FIRST)
    assert "".join(TemplateExplainer().stream(FIRST)) == text
    assert '"Morning Light"' in text and "Anna Berg" in text
    named = [t for t in ("piano", "classical", "instrumental", "solo") if t in text]
    assert 1 <= len(named) <= 4
    assert "72 BPM" in text and "slow" in text
    assert "lakeside" in text  # why it fits the video

    later = template_text(LATER)
    assert later == template_text(LATER)
    assert "slower, no vocals and piano" in later  # what in the request it satisfies
    assert "previous pick" in later and "72 vs 128 BPM" in later  # how it differs
    assert "Night Drive" not in later and "The Voltage" not in later  # never names it


def test_template_phrasing_varies_between_facts() -> None:
    openings = {
        template_text(ExplanationFacts(track=t, rank=r, video=v)).split('"')[0]
        for t in (PIANO, SYNTH, ROCK)
        for r in (1, 2, 3)
        for v in (LAKE, CITY)
    }
    assert len(openings) >= 3


def test_template_passes_its_own_grounding_check() -> None:
    vocab = sorted(load_tag_vocabulary())
    rng = random.Random(7)
    for i in range(60):
        track = TrackFacts(
            title=f"Song {i}",
            artist=rng.choice([None, f"Band {i}"]),
            album=None,
            year=None,
            duration=120.0,
            bpm=rng.choice([None, 60.0, 100.0, 150.0]),
            loudness_db=rng.choice([None, -30.0, -18.0, -8.0]),
            tags=tuple(rng.sample(vocab, rng.randint(0, 6))),
        )
        previous = rng.choice([None, PIANO, SYNTH, ROCK])
        cues = tuple(rng.sample(CUES, rng.randint(0, len(CUES))))
        facts = ExplanationFacts(
            track=track,
            rank=rng.randint(1, 5),
            video=rng.choice([LAKE, CITY]),
            request="something different" if previous else None,
            previous=previous,
            cues=cues,
            video_duration=rng.choice([None, 30.0, 120.0, 300.0]),
            relaxed=rng.choice([(), ("no drums",)]) if previous else (),
        )
        text = template_text(facts)
        result = check_grounding(text, facts, others=[PIANO, SYNTH, ROCK])
        assert result.ok, (text, result.issues)
        assert contradictions(text, facts) == [], text


CUES = [
    VideoCue("scene (seashore, sandbar)", "a summery, relaxed mood", None, "scene"),
    VideoCue("slow, gentle movement", "a slow or moderate tempo", True, "pace"),
    VideoCue("quick cuts (one every 3 s)", "a fast, driving tempo", False, "pace"),
    VideoCue("dark picture", "a darker, minor-key sound", None, "light"),
    VideoCue("spoken soundtrack", "music without vocals", True, "sound"),
]


def test_measured_tempo_and_level_win_over_contradicting_tags() -> None:
    """A track tagged slow and quiet but measured at 150 BPM and -9 dBFS is never called
    slow or quiet; a vocal track is never called instrumental."""
    odd = TrackFacts(
        "Odd One", None, None, None, 200.0, 150.0, -9.0,
        ("ambient", "slow", "quiet", "instrumental", "female vocal", "synth"),
    )  # fmt: skip
    for rank in range(1, 6):
        facts = ExplanationFacts(track=odd, rank=rank, video=LAKE, cues=tuple(CUES[:2]))
        text = template_text(facts)
        assert "150 BPM, a fast tempo" in text or "fast 150 BPM" in text, text
        assert contradictions(text, facts) == [], text
        body = text.split(".", 2)[-1]  # past the cue sentence, which is the video's
        assert " slow " not in body.replace("slow or moderate", "") and "quiet" not in body
        assert "instrumental" not in text


def test_explanations_say_what_changed_and_what_gave_way() -> None:
    facts = ExplanationFacts(
        track=PIANO, rank=1, video=LAKE, request="no drums, piano", previous=SYNTH,
        matched=("piano",), relaxed=("no drums",), cues=tuple(CUES[1:3]),
        video_duration=240.0, section="from 0:42, the part whose energy fits the video",
    )  # fmt: skip
    text = template_text(facts)
    assert "previous pick" in text and "72 vs 128 BPM" in text
    assert '"no drums"' in text and ("relaxed" in text or "gave way" in text)
    assert "slow, gentle movement" in text and "quick cuts" in text
    assert "3:04" in text and "4:00" in text  # shorter than the video, and says so
    assert "0:42" in text
    assert contradictions(text, facts) == []


# -- grounding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ('"Morning Light" would sit well next to "Night Drive".', "Night Drive"),
        ("Anna Berg plays it much like Grey Owls would.", "Grey Owls"),
        ("Morning Light is a slow piano piece with soft female vocals.", "female vocal"),
        ("Morning Light brings thumping drums to the lake.", "drums"),
        ('It is as calm as "Moonlight Sonata" for this lakeside video.', "Moonlight Sonata"),
        ("Released in 1987, it is a slow piano piece.", "1987"),
        ("At 95 BPM it is a slow piano piece.", "95 BPM"),
    ],
)
def test_grounding_catches_planted_violations(text: str, issue: str) -> None:
    result = check_grounding(text, FIRST, others=[SYNTH, ROCK])
    assert not result.ok
    assert issue.lower() in result.reason.lower()


def test_grounding_accepts_faithful_text() -> None:
    faithful = [
        '"Morning Light" by Anna Berg is a slow, quiet piano piece; at 72 BPM it suits the '
        "still lakeside video.",
        "An instrumental, classical solo with no vocals and without drums, released in 2019.",
        "Its soft, muted calm matches the boathouse by the seashore.",  # words of the video
    ]
    for text in faithful:
        assert check_grounding(text, FIRST, others=[SYNTH, ROCK]).ok, text
    # On a later turn: the request's words, and the previous pick's tags in a comparison.
    text = (
        "It is slower, with no vocals and more piano, as you asked. Unlike the previous pick "
        "it has no techno drums, and it leans classical instead of electronic."
    )
    assert check_grounding(text, LATER, others=[ROCK]).ok
    # The same claim outside a comparison is a claim about this track.
    assert not check_grounding("It has techno drums.", LATER).ok
    # Another recommendation by the same artist does not make the artist 'another artist'.
    same_artist = TrackFacts("Evening Light", "Anna Berg", None, None, 100.0, None, None, ())
    assert check_grounding("Anna Berg wrote it.", FIRST, others=[same_artist]).ok


# -- explainers that misbehave, for the guard -------------------------------------------------


class _Scripted(Explainer):
    """Yields fixed pieces, optionally failing after them."""

    def __init__(self, pieces: list[str], fail: bool = False) -> None:
        self.pieces, self.fail = pieces, fail

    @property
    def id(self) -> str:
        return "scripted"

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        yield from self.pieces
        if self.fail:
            raise ExplainerError("scripted: connection dropped")


def _events(guard: GuardedExplainer, facts: ExplanationFacts, others=()) -> list:
    events = list(guard.events(facts, others))
    assert isinstance(events[-1], Done)
    assert all(not isinstance(e, Done) for e in events[:-1])
    return events


def test_guard_passes_a_faithful_rewrite_and_cuts_an_unfinished_sentence() -> None:
    pieces = ['"Morning', ' Light"', " is a slow piano piece at 72 BPM.", " It suits the"]
    events = _events(GuardedExplainer(_Scripted(pieces)), FIRST)
    assert [e.text for e in events if isinstance(e, Token)] == pieces
    kept = '"Morning Light" is a slow piano piece at 72 BPM.'
    assert events[-2] == Replace(kept, events[-2].reason)
    done = events[-1]
    assert done.text == kept
    assert (done.source, done.note, done.n_pieces) == ("scripted", None, 4)


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ('"Morning Light" is a lovely piano piece.', "leaves out the planned numbers 72"),
        ("A slow piano piece at 72 BPM.", "leaves out the track's title"),
        ('"Morning Light" is a fast piano piece at 72 BPM.', "says 'fast' of a 72 BPM track"),
        ('"Morning Light", loud piano at 72 BPM.', "says 'loud' of a track at -28 dBFS"),
        ('"Morning Light" has lovely singing at 72 BPM.', "gives a voice to a track tagged"),
    ],
)
def test_a_rewrite_that_thins_or_contradicts_the_plan_is_replaced(text: str, issue: str) -> None:
    done = _events(GuardedExplainer(_Scripted([text])), FIRST)[-1]
    assert done.source == "template" and done.text == template_text(FIRST)
    assert any(i.startswith(issue) for i in done.issues), done.issues


def test_guard_replaces_ungrounded_text_with_the_template() -> None:
    pieces = ["Like ", '"Night Drive", ', "it has female vocals."]
    events = _events(GuardedExplainer(_Scripted(pieces)), FIRST, others=[SYNTH])
    replace, done = events[-2], events[-1]
    assert isinstance(replace, Replace) and replace.text == template_text(FIRST)
    assert "Night Drive" in replace.reason and "female vocal" in replace.reason
    assert done.source == "template" and done.text == template_text(FIRST)
    assert done.note and "names another track or artist: 'Night Drive'" in done.issues
    assert "claims a tag the track does not have: 'female vocal'" in done.issues


def test_guard_falls_back_when_the_llm_fails_midway() -> None:
    events = _events(GuardedExplainer(_Scripted(["It is", " a slow"], fail=True)), FIRST)
    assert isinstance(events[-2], Replace) and "connection dropped" in events[-2].reason
    assert events[-1].source == "template" and "connection dropped" in events[-1].note


def test_template_explainer_streams_through_the_guard() -> None:
    events = _events(GuardedExplainer(TemplateExplainer()), LATER)
    assert "".join(e.text for e in events if isinstance(e, Token)) == template_text(LATER)
    assert events[-1].source == "template" and events[-1].note is None


# -- a real endpoint that accepts and never answers; a closed port ----------------------------


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[bytes]]]:
    """Accepts connections, reads the request, never answers."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conns.append(conn)
            conn.settimeout(1.0)
            with contextlib.suppress(OSError):  # a client that gave up
                received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(2)
    for conn in conns:
        conn.close()
    server.close()


def test_timeout_falls_back_to_the_template(
    silent_server: tuple[int, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MUSECHAT_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    port, received = silent_server
    llm = OpenAIExplainer(f"http://127.0.0.1:{port}/v1", "any", timeout_s=30)
    guard = GuardedExplainer(llm, timeout_s=3.0, first_token_timeout_s=1.0)
    import openai  # noqa: F401 - a cold import alone can take a second here

    start = time.monotonic()
    events = _events(guard, FIRST)
    # The first-token timeout (1 s), not the client's 30 s; the bound leaves room for a
    # loaded machine (speed itself is measured in bench/bench_engine.py).
    assert time.monotonic() - start < 15
    # the plan's opening sentence is shown at once; the model never answered
    assert [type(e) for e in events] == [Token, Replace, Done]
    done = events[-1]
    assert done.text == template_text(FIRST) and done.source == "template"
    assert "no answer within 1 s" in done.note
    assert done.first_token_s is None
    # It was a real request; a key-less local server gets a placeholder key.
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received and b"POST /v1/chat/completions" in received[0]
    assert b"Bearer no-key" in received[0]
    # The failure is remembered: the next turns get the template at once, without asking
    # the endpoint again, until the back-off has passed.
    calls: list[object] = []
    real_stream = llm.stream
    monkeypatch.setattr(llm, "stream", lambda facts: calls.append(facts) or real_stream(facts))
    for _ in range(2):
        again = _events(guard, FIRST)[-1]
        assert again.source == "template" and again.text == template_text(FIRST)
        assert "failed earlier (no answer within 1 s)" in again.note
        assert "tried again in" in again.note
    assert calls == []
    guard._retry_at = 0.0  # the back-off has passed: it is tried again (and fails again)
    assert "no answer within 1 s" in _events(guard, FIRST)[-1].note and len(calls) == 1
    assert guard._backed_off() > 60  # and waits longer before the next try


def test_unreachable_endpoint_falls_back_at_once() -> None:
    llm = OpenAIExplainer(f"http://127.0.0.1:{free_port()}/v1", "any", timeout_s=60)
    start = time.monotonic()
    done = GuardedExplainer(llm, timeout_s=60, first_token_timeout_s=60).explain(FIRST)
    assert time.monotonic() - start < 20  # refused at once, not after a 60 s timeout
    assert done.source == "template" and "APIConnectionError" in done.note


# -- llama.cpp on the packaged SmolLM2 --------------------------------------------------------


@pytest.fixture(scope="module")
def smollm() -> Iterator[LlamaCppExplainer]:
    # One thread: this 2-core machine is shared, and llama.cpp's spinning threads slow down
    # badly when oversubscribed.
    llm = LlamaCppExplainer(threads=1, max_tokens=24)
    yield llm
    llm.close()


def test_llama_streams_deterministically(smollm: LlamaCppExplainer) -> None:
    pieces = list(smollm.stream(FIRST))
    assert len(pieces) > 1
    text = "".join(pieces)
    assert text.strip()
    assert "".join(smollm.stream(FIRST)) == text  # fixed seed, no prompt-cache reuse
    assert smollm.id == "llama:SmolLM2-135M-Instruct.Q4_1.gguf"


def test_llama_through_the_guard(smollm: LlamaCppExplainer) -> None:
    events = _events(GuardedExplainer(smollm, timeout_s=60, first_token_timeout_s=60), LATER)
    done = events[-1]
    assert done.first_token_s is not None and done.n_pieces > 1
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) == done.n_pieces
    # Either its own (grounded, possibly cut) text, or the template with the reasons.
    if done.source == "template":
        assert done.issues and done.text == template_text(LATER)
    else:
        assert done.source == smollm.id and done.text
        assert check_grounding(done.text, LATER).ok


def test_prefix_embeddings_feed_the_model(smollm: LlamaCppExplainer) -> None:
    rng = np.random.default_rng(0)
    n_embd = smollm.n_embd
    assert n_embd == 576
    prefix = rng.normal(0.0, 0.05, (4, n_embd)).astype(np.float32)
    # A short prompt keeps this quick; the full ChatML layout runs once below.
    before = "<|im_start|>user\n"
    after = "\nDescribe this music.<|im_end|>\n<|im_start|>assistant\n"

    logits = smollm.prefix_logits(prefix, after, before)
    assert logits.shape == (smollm.llm.n_vocab(),) and np.isfinite(logits).all()
    other = smollm.prefix_logits(prefix * 20, after, before)
    assert np.abs(other - logits).max() > 1e-3  # the prefix really reaches the model

    pieces = list(smollm.generate_with_prefix(prefix, after, before, max_tokens=12))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert list(smollm.generate_with_prefix(prefix, after, before, max_tokens=12)) == pieces

    with pytest.raises(ExplainerError, match="prefix must be"):
        smollm.prefix_logits(np.zeros((2, 10), np.float32), after)

    explainer = PrefixLlamaExplainer(smollm, prefix_for=lambda facts: prefix)
    assert chatml_prefix_layout(FIRST)[0].startswith("<|im_start|>system\n")
    pieces = list(explainer.stream(FIRST))
    assert len(pieces) > 1 and "".join(pieces).strip()
    # The chat path still works after raw-embedding decoding (the KV cache was reset).
    assert "".join(smollm.stream(FIRST)).strip()


def test_trained_generator_from_settings(smollm: LlamaCppExplainer, tmp_path: Path) -> None:
    """A trainer export (GGUF + projector.safetensors beside it) becomes a prefix explainer
    whose prompt is the training layout; the track embedding goes through the projector."""
    import dataclasses
    import shutil

    import torch

    from musechat_tui.explain.trained import trained_explainer
    from musechat_tui.models.projector import Projector, ProjectorConfig

    torch.manual_seed(0)
    projector = Projector(ProjectorConfig(in_dim=8, n_embd=576, n_prefix=2))
    export = tmp_path / "export"
    export.mkdir()
    projector.save(export / "projector.safetensors")
    gguf = export / "generator-q8_0.gguf"
    gguf.symlink_to(packaged_model_path())
    settings = load_settings(tmp_path / "none.toml", llm_model=gguf)
    built = build_explainer(settings)
    assert isinstance(built, PrefixLlamaExplainer) and built.id == "llama-prefix:" + gguf.name
    before, after = built.layout(FIRST)
    assert "Music: " in before and f'Track: "{PIANO.title}"' in after

    vector = np.random.default_rng(1).normal(size=8).astype(np.float32)
    facts = dataclasses.replace(FIRST, track=dataclasses.replace(PIANO, vector=vector))
    trained = trained_explainer(smollm, export / "projector.safetensors")  # the loaded model
    pieces = list(trained.stream(facts))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert list(trained.stream(facts)) == pieces  # greedy: the same facts, the same words
    other = dataclasses.replace(facts, track=dataclasses.replace(PIANO, vector=-vector))
    assert list(trained.stream(other)) != pieces  # the embedding reaches the words

    # A catalog whose embeddings do not fit the projector: the template, with the reason.
    done = GuardedExplainer(trained, timeout_s=60, first_token_timeout_s=60).explain(FIRST)
    assert done.source == "template" and "8-d" in done.note

    bad = export / "bad.safetensors"
    bad.write_bytes(b"not a projector")
    with pytest.raises(ModelLoadError, match="bad.safetensors"):
        build_explainer(load_settings(tmp_path / "none.toml", llm_model=gguf, llm_projector=bad))
    with pytest.raises(ModelLoadError, match="gone.safetensors"):
        build_explainer(
            load_settings(tmp_path / "none.toml", llm_projector=export / "gone.safetensors")
        )
    shutil.rmtree(export)


# -- an OpenAI-compatible server: llama-cpp-python's own, on localhost ------------------------


def test_openai_endpoint_streams(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MUSECHAT_OPENAI_API_KEY", SERVER_KEY)
    llm = OpenAIExplainer(llama_server, "smollm2", timeout_s=60, max_tokens=24)
    try:
        pieces = list(llm.stream(FIRST))
        assert len(pieces) > 1 and "".join(pieces).strip()
        assert SERVER_KEY not in repr(llm) and SERVER_KEY not in llm.id
        done = GuardedExplainer(llm, timeout_s=60, first_token_timeout_s=60).explain(FIRST)
        assert done.text and done.first_token_s is not None
    finally:
        llm.close()


def test_openai_wrong_key_falls_back_without_leaking_it(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSECHAT_OPENAI_API_KEY", "wrong-secret-key")
    llm = OpenAIExplainer(llama_server, "smollm2", timeout_s=30)
    done = GuardedExplainer(llm, timeout_s=30, first_token_timeout_s=30).explain(FIRST)
    assert done.source == "template" and "AuthenticationError" in done.note
    assert "wrong-secret-key" not in done.note


# -- the factory ------------------------------------------------------------------------------


@pytest.fixture
def no_musechat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MUSECHAT_"):
            monkeypatch.delenv(key)


@pytest.mark.usefixtures("no_musechat_env")
def test_build_explainer_choices(tmp_path: Path) -> None:
    absent = tmp_path / "absent.toml"
    auto = build_explainer(load_settings(absent, threads=3))
    assert isinstance(auto, LlamaCppExplainer)
    assert auto.model_path == packaged_model_path() and auto.threads == 3
    llama = build_explainer(load_settings(absent, threads=3, llm_threads=1, llm_max_tokens=40))
    assert (llama.threads, llama.max_tokens) == (1, 40)

    url = "http://127.0.0.1:9/v1"
    remote = build_explainer(load_settings(absent, openai_base_url=url, openai_model="m"))
    assert isinstance(remote, OpenAIExplainer) and remote.id == "openai:m@127.0.0.1:9"
    assert isinstance(build_explainer(load_settings(absent, explainer="template")), Explainer)
    assert build_explainer(load_settings(absent, explainer="template")).id == "template"

    with pytest.raises(ConfigError, match="openai_base_url"):
        build_explainer(load_settings(absent, explainer="openai"))
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ModelLoadError, match="missing.gguf"):
        build_explainer(load_settings(absent, explainer="llama", llm_model=missing))
    # auto with a missing model: the template, never an error
    assert build_explainer(load_settings(absent, llm_model=missing)).id == "template"

    guard = build_guarded_explainer(load_settings(absent, llm_timeout_s=5, explainer="template"))
    assert (guard.timeout_s, guard.first_token_timeout_s) == (5, 5)
