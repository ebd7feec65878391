"""The constraint kinds (engine/constraints/, one module each) through the real engine on
the engine test catalog: every objective request is obeyed whenever the catalog holds a
track that meets it, the new key/mode kind filters and relaxes, uses and open words
steer, and preferences stored before the registry still load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from engine_support import KEYS, make_settings, present, video

from musechat_tui.engine import ChatEngine
from musechat_tui.engine.constraints import KINDS, Preferences
from musechat_tui.explain.template import TemplateExplainer


@pytest.fixture
def engine(tmp_path: Path, library: Path, text_encoder: object) -> Iterator[ChatEngine]:
    eng = ChatEngine(
        make_settings(tmp_path, library), explainer=TemplateExplainer(), text_encoder=text_encoder
    )
    yield eng
    eng.close()


Check = Callable[[ChatEngine, int, dict[str, float]], bool]


def _row(e: ChatEngine, tid: int) -> int:
    row = e.pool.row(tid)
    assert row is not None
    return row


def no(concept: str) -> Check:
    return lambda e, tid, _: not present(e, tid, concept)


def bpm(low: float | None, high: float | None, ref: str | None = None) -> Check:
    def check(e: ChatEngine, tid: int, anchor: dict[str, float]) -> bool:
        b = float(e.pool.bpm[_row(e, tid)])
        lo = anchor["bpm"] * low if ref and low else low
        hi = anchor["bpm"] * high if ref and high else high
        return (lo is None or b >= lo) and (hi is None or b <= hi)

    return check


def seconds(low: float | None, high: float | None) -> Check:
    def check(e: ChatEngine, tid: int, _: dict[str, float]) -> bool:
        d = float(e.pool.duration[_row(e, tid)])
        return (low is None or d >= low) and (high is None or d <= high)

    return check


def artist(name: str | None, keep: bool) -> Check:
    def check(e: ChatEngine, tid: int, anchor: dict[str, float]) -> bool:
        who = name or e.pool.artists[int(anchor["row"])]
        return (e.pool.artists[_row(e, tid)] == who) == keep

    return check


def mode(sign: int) -> Check:
    return lambda e, tid, _: float(e.pool.major[_row(e, tid)]) * sign > 0


def key(name: str) -> Check:
    return lambda e, tid, _: e.pool.keys[_row(e, tid)] == name


# Objective requests as people type them, and what every pick must then meet.
OBJECTIVE: list[tuple[str, Check]] = [
    ("no drums please", no("drums")),
    ("without any vocals, it's for a voice-over", no("vocals")),
    ("drumless", no("drums")),
    ("lose the guitar", no("guitar")),
    ("no piano at all", no("piano")),
    ("hold the synths", no("synth")),
    ("something under 100 bpm", bpm(None, 100)),
    ("over 120 bpm", bpm(120, None)),
    ("between 90 and 110 bpm", bpm(90, 110)),
    ("faster", bpm(1.0001, None, ref="anchor")),
    ("slow it down", bpm(None, 0.9999, ref="anchor")),
    ("at least as long as my video", seconds(60, None)),
    ("under 3 minutes", seconds(None, 180)),
    ("between 3 and 4 minutes", seconds(180, 240)),
    ("only Ada Keys", artist("Ada Keys", True)),
    ("nothing by Neon Grid", artist("Neon Grid", False)),
    ("not that artist", artist(None, False)),
    ("in a minor key", mode(-1)),
    ("brighter, major key", mode(+1)),
    ("something in D major", key("D major")),
    ("no drums and in a minor key", lambda e, t, a: no("drums")(e, t, a) and mode(-1)(e, t, a)),
]


@pytest.mark.parametrize(("text", "check"), OBJECTIVE, ids=[t for t, _ in OBJECTIVE])
def test_every_objective_request_is_obeyed(engine: ChatEngine, text: str, check: Check) -> None:
    session = engine.start(video())
    first = engine.recommend(session)
    row = _row(engine, first.recommendations[0].id)
    anchor = {"bpm": float(engine.pool.bpm[row]), "row": float(row)}
    possible = [int(t) for t in engine.pool.ids if int(t) != first.recommendations[0].id]
    assert any(check(engine, t, anchor) for t in possible), "the catalog must hold a match"
    turn = engine.recommend(session, text)
    assert turn.recommendations
    assert all(check(engine, r.id, anchor) for r in turn.recommendations), turn.understood
    assert not any("relaxed" in n or "dropped" in n for n in turn.notes)


def test_a_key_no_track_has_relaxes_and_says_so(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "something in F# minor")
    assert turn.understood == ["key F# minor"]
    assert len(turn.recommendations) == 5
    assert any("in F# minor" in n and "relaxed" in n for n in turn.notes)


def test_a_mode_stays_until_replaced(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    engine.recommend(session, "in a minor key")
    later = engine.recommend(session, "slower")
    minor = {t for t, (_, m) in KEYS.items() if m < 0}
    assert later.recommendations
    assert {engine.pool.titles[_row(engine, r.id)] for r in later.recommendations} <= minor
    major = engine.recommend(session, "in a major key instead")
    assert all(engine.pool.major[_row(engine, r.id)] > 0 for r in major.recommendations)


def test_a_use_leans_to_its_tempo_and_moods(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "it's for a workout video")
    assert turn.understood[0].startswith("use workout → ")
    bpms = [r.bpm for r in turn.recommendations[:3]]
    assert np.mean(bpms) >= 110  # the library's fast tracks come first
    parts = {r.id: r.parts.get("use workout", 0.0) for r in turn.recommendations}
    fast = [r for r in turn.recommendations if r.bpm and r.bpm >= 120]
    slow = [r for r in turn.recommendations if r.bpm and r.bpm < 100]
    if fast and slow:
        assert min(parts[r.id] for r in fast) > max(parts[r.id] for r in slow)
    # It stays: a later turn still leans to it.
    later = engine.recommend(session, "something different")
    assert any("use workout" in r.parts for r in later.recommendations)


def test_an_open_word_is_shown_and_steers_by_tags(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "something melancholic and lonely")
    opened = [u for u in turn.understood if " → " in u]
    assert any(u.startswith("lonely → ") for u in opened)
    assert any(k.startswith("lonely") for k in turn.recommendations[0].parts)


def test_preferences_saved_before_the_registry_still_load() -> None:
    old = (
        '{"excluded": ["drums"], "wants": {"piano": 0.5}, "less": {}, '
        '"excluded_artists": ["Ada Keys"], "only_artists": [], "tempo": [90, 110], '
        '"duration": [60, null], "duration_label": "at least as long as the video (60 s)"}'
    )
    p = Preferences.from_json(old)
    assert p.states["concept"].excluded == ["drums"]
    assert p.states["artist"].excluded == ["Ada Keys"]
    assert p.states["tempo"].range == (90, 110)
    assert p.states["duration"].range == (60, None)
    again = Preferences.from_json(p.to_json())
    assert again.to_json() == p.to_json()


def test_kinds_have_distinct_names_and_a_relaxation_place() -> None:
    names = [k.name for k in KINDS]
    assert len(names) == len(set(names))
    for kind in KINDS:
        assert isinstance(kind.relax_rank, int)
        assert kind.state_type.model_validate_json(kind.state_type().model_dump_json())
