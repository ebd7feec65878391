"""The chat engine, turn by turn, on a small catalog whose tags, tempi, lengths and
artists are known, so behaviour can be asserted exactly: negation removes tracks with the
tag, tempo requests move the tempo the right way, rejected tracks never return, names
filter, "more like #3" anchors, durations hold, impossible combinations relax (and say
so), and sessions are saved and resumed.

The catalog (tests/engine_support.py) is real: Catalog API, MiniLM description vectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from engine_support import STYLE, TAGS, make_settings, present, video

from musechat_tui.encoders import Label
from musechat_tui.engine import ChatEngine, SessionStore
from musechat_tui.engine.vocabulary import CONCEPTS_BY_NAME
from musechat_tui.explain.template import TemplateExplainer


@pytest.fixture
def engine(tmp_path: Path, library: Path, text_encoder: object) -> ChatEngine:
    eng = ChatEngine(
        make_settings(tmp_path, library), explainer=TemplateExplainer(), text_encoder=text_encoder
    )
    yield eng
    eng.close()


# ---------------------------------------------------------------------- turn 1
def test_first_turn_is_the_video_alone(engine: ChatEngine) -> None:
    session = engine.start(video())
    turn = engine.run_turn(session)
    assert turn.turn == 1 and turn.user is None and turn.anchor_id is None
    assert len(turn.recommendations) == 5
    assert len({r.id for r in turn.recommendations}) == 5
    scores = [r.score for r in turn.recommendations]
    assert scores[0] == max(scores)  # the best first; the rest chosen to differ (below)
    top = turn.recommendations[0]
    assert top.title in turn.explanation
    d = session.to_dict()["turns"][0]
    assert set(d["recommendations"][0]) >= {
        "id",
        "path",
        "title",
        "artist",
        "score",
        "tags",
        "bpm",
        "duration",
    }
    assert d["explanation"] == turn.explanation


def test_the_first_slate_spans_styles(tmp_path: Path, library: Path, text_encoder: object) -> None:
    """Maximal marginal relevance: the same best pick, then picks from more styles than the
    plain score order gives; diversity 0 is the plain order."""
    slates = {}
    for diversity in (0.0, 0.6):
        settings = make_settings(tmp_path, library, first_slate_diversity=diversity)
        with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as e:
            turn = e.recommend(e.start(video()))
            slates[diversity] = turn.recommendations
    plain, diverse = slates[0.0], slates[0.6]
    assert [r.score for r in plain] == sorted((r.score for r in plain), reverse=True)
    assert diverse[0].id == plain[0].id
    styles = [len({STYLE[(r.artist, r.title)] for r in s}) for s in (plain, diverse)]
    assert styles[1] > styles[0]


def test_words_can_come_with_the_first_turn(engine: ChatEngine) -> None:
    session = engine.start(video())
    turn = engine.recommend(session, "strings, no piano")
    assert turn.anchor_id is None
    assert all(not present(engine, r.id, "piano") for r in turn.recommendations)
    assert present(engine, turn.recommendations[0].id, "strings")


def test_the_video_look_moves_turn_one(engine: ChatEngine) -> None:
    """Dark, still footage leans to calm, slow music; bright, colourful, fast footage to
    upbeat music: the explicit visual-to-musical rules at work."""
    calm = video()
    calm.brightness, calm.colourfulness, calm.motion = 0.15, 0.1, 0.0
    calm.labels = [Label("candle", 0.4)]
    busy = video()
    busy.brightness, busy.colourfulness, busy.motion = 0.8, 0.6, 0.25
    busy.labels = [Label("stage", 0.4)]
    bpm = {}
    for name, v in (("calm", calm), ("busy", busy)):
        turn = engine.recommend(engine.start(v))
        bpm[name] = np.mean([r.bpm for r in turn.recommendations])
    assert bpm["calm"] < bpm["busy"] - 15


# ---------------------------------------------------------------------- refinement rules
def test_negation_removes_tracks_with_that_tag_and_stays(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "no drums please")
    assert turn.understood[0] == "no drums"
    assert len(turn.recommendations) == 5
    for r in turn.recommendations:
        assert not present(engine, r.id, "drums")
        assert not {"drums", "beat"} & set(r.tags)
    # Exclusions are remembered in later turns.
    later = engine.recommend(session, "slower")
    assert all(not present(engine, r.id, "drums") for r in later.recommendations)


def test_no_vocals_is_not_read_as_vocals(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "no vocals")
    assert turn.recommendations
    assert all(not present(engine, r.id, "vocals") for r in turn.recommendations)
    # ... and the instrumental tracks come first.
    assert present(engine, turn.recommendations[0].id, "instrumental")


def test_less_is_a_penalty_not_a_filter(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session, None)
    more = engine.recommend(session, "electronic")
    e_more = sum(present(engine, r.id, "electronic") for r in more.recommendations)
    less = engine.recommend(session, "less electronic")
    e_less = sum(present(engine, r.id, "electronic") for r in less.recommendations)
    assert e_less < e_more
    assert len(less.recommendations) == 5


def test_faster_and_slower_move_the_tempo(engine: ChatEngine) -> None:
    session = engine.start(video())
    first = engine.recommend(session)
    anchor_bpm = first.recommendations[0].bpm
    faster = engine.recommend(session, "faster")
    assert faster.anchor_id == first.recommendations[0].id
    assert all(r.bpm > anchor_bpm for r in faster.recommendations)
    new_anchor = faster.recommendations[0].bpm
    slower = engine.recommend(session, "a bit slower")
    assert all(r.bpm < new_anchor for r in slower.recommendations)
    assert np.mean([r.bpm for r in slower.recommendations]) < np.mean(
        [r.bpm for r in faster.recommendations]
    )


def test_around_a_tempo(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "something around 120 bpm")
    bpms = sorted(r.bpm for r in turn.recommendations)
    assert bpms and all(110 <= b <= 130 for b in bpms)
    assert len(bpms) == 2  # Party Time 120, Pulse 128: never padded with misses
    assert any("only 2 tracks" in n for n in turn.notes)


def test_at_least_as_long_as_my_video(tmp_path: Path, library: Path, text_encoder: object) -> None:
    with ChatEngine(
        make_settings(tmp_path, library), explainer=TemplateExplainer(), text_encoder=text_encoder
    ) as eng:
        session = eng.start(video(duration=250.0))
        eng.recommend(session)
        turn = eng.recommend(session, "it should be at least as long as my video")
        assert turn.recommendations
        assert all(r.duration >= 250 for r in turn.recommendations)
        # Durations stick, and combine with later requests.
        later = eng.recommend(session, "no synth")
        assert all(r.duration >= 250 for r in later.recommendations)
        assert all(not present(eng, r.id, "synth") for r in later.recommendations)


def test_artist_names_filter(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    only = engine.recommend(session, "only Quartet Nine")
    # The anchor itself is never re-recommended, so the other Quartet Nine track remains.
    assert {r.artist for r in only.recommendations} == {"Quartet Nine"}
    away = engine.recommend(session, "not that artist")
    assert away.recommendations
    assert all(r.artist != "Quartet Nine" for r in away.recommendations)
    none_amps = engine.recommend(session, "nothing by The Amps")
    assert all(r.artist not in ("Quartet Nine", "The Amps") for r in none_amps.recommendations)


def test_like_an_artist_boosts_that_artist(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "like Deep Space")
    assert turn.recommendations[0].artist == "Deep Space"


def test_more_like_number_three_anchors_on_it(engine: ChatEngine) -> None:
    session = engine.start(video())
    first = engine.recommend(session)
    third = first.recommendations[2]
    turn = engine.recommend(session, "more like #3")
    assert turn.anchor_id == third.id
    assert third.id not in {r.id for r in turn.recommendations}
    style = STYLE[(third.artist, third.title)]
    same = [STYLE[(r.artist, r.title)] == style for r in turn.recommendations[:2]]
    assert same[0], "the nearest track in audio should lead"
    # Audio similarity really drives it: the anchor part is the largest for the top pick.
    parts = turn.recommendations[0].parts
    assert parts["anchor_audio"] == max(parts.values())


def test_a_title_can_be_named(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "something like Rain Nocturne")
    nocturne = engine.pool.ids[engine.pool.titles.index("Rain Nocturne")]
    assert turn.anchor_id == int(nocturne)


def test_rejected_tracks_never_come_back(engine: ChatEngine) -> None:
    session = engine.start(video())
    turn = engine.recommend(session)
    rejected: set[int] = set()
    asks = [
        "not #1",
        "not #2 and more like #1",
        "faster",
        "not the first one",
        "slower",
        "something different",
        "more like #2",
    ]
    for text in asks:
        listed = [r.id for r in turn.recommendations]
        turn = engine.recommend(session, text)
        if text.startswith("not #1") or text.startswith("not the first"):
            rejected.add(listed[0])
        if "not #2" in text:
            rejected.add(listed[1])
        assert rejected == session.rejected
        assert not rejected & {r.id for r in turn.recommendations}, text
    # The feedback API rejects as well; "bring back" restores.
    victim = turn.recommendations[0].id
    engine.feedback(session, victim, "rejected")
    turn = engine.recommend(session, "more")
    assert victim not in {r.id for r in turn.recommendations}
    turn = engine.recommend(session, "bring back the rejected ones")
    assert not session.rejected


def test_every_track_rejected_gives_an_empty_list_and_says_why(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    for tid in engine.pool.ids:
        engine.feedback(session, int(tid), "rejected")
    turn = engine.recommend(session, "anything")
    assert turn.recommendations == []
    assert any("rejected" in n for n in turn.notes)


def test_impossible_combination_relaxes_in_the_stated_order(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    # Ben Ivory only plays piano: both asked now, so concepts give way before artists.
    turn = engine.recommend(session, "only Ben Ivory but no piano")
    assert turn.recommendations
    assert all(r.artist == "Ben Ivory" for r in turn.recommendations)
    assert any("no piano" in n and "relaxed" in n for n in turn.notes)
    assert all("no piano" in r.relaxed for r in turn.recommendations)


def test_an_earlier_request_gives_way_to_a_newer_one(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    engine.recommend(session, "only Ada Keys")
    # Ada Keys plays at 66 and 72 bpm: nothing of hers is much faster than the anchor.
    turn = engine.recommend(session, "much faster")
    assert turn.recommendations
    assert any("earlier request" in n and "Ada Keys" in n for n in turn.notes)
    anchor_bpm = engine.pool.bpm[engine.pool.row(turn.anchor_id)]
    assert all(r.bpm > anchor_bpm for r in turn.recommendations)
    assert not session.preferences.states["artist"].only  # forgotten, so it no longer bites


def test_relaxed_tempo_ranks_the_nearest_first(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    fastest = int(engine.pool.ids[np.nanargmax(engine.pool.bpm)])
    engine.feedback(session, fastest, "accepted")  # the anchor is now the fastest track
    turn = engine.recommend(session, "faster")
    assert turn.anchor_id == fastest
    assert any("relaxed" in n for n in turn.notes)
    bpms = [r.bpm for r in turn.recommendations]
    assert bpms[0] == max(bpms)


def test_unknown_reference_is_reported(engine: ChatEngine) -> None:
    session = engine.start(video())
    engine.recommend(session)
    turn = engine.recommend(session, "more like #9")
    assert any("no #9" in n for n in turn.notes)
    assert len(turn.recommendations) == 5


def test_same_state_same_list(tmp_path: Path, library: Path, text_encoder: object) -> None:
    lists = []
    for i in range(2):
        settings = make_settings(tmp_path / str(i), library)
        with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as e:
            s = e.start(video())
            lists.append(
                [
                    [r.id for r in e.recommend(s, t).recommendations]
                    for t in (None, "no drums", "faster")
                ]
            )
    assert lists[0] == lists[1]


# ---------------------------------------------------------------------- sessions
def test_session_is_saved_and_resumed(tmp_path: Path, library: Path, text_encoder: object) -> None:
    settings = make_settings(tmp_path, library)
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as eng:
        session = eng.start(video())
        eng.run_turn(session)
        t2 = eng.run_turn(session, "no drums, not #2")
        eng.feedback(session, t2.recommendations[0].id, "accepted")
        saved = session.to_dict()
        sid = session.id
    with SessionStore.in_data_dir(settings.data_dir) as store:
        listed = store.list()
        assert listed[0]["id"] == sid and listed[0]["turns"] == 2
        assert listed[0]["last_ask"] == "no drums, not #2"
        kinds = {r["kind"] for r in store.feedback_rows(sid)}
        assert kinds == {"shown", "rejected", "accepted"}
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as eng:
        resumed = eng.resume(sid)
        assert resumed.to_dict() == saved
        assert resumed.preferences.states["concept"].excluded == ["drums"]
        assert resumed.rejected and resumed.accepted == [t2.recommendations[0].id]
        assert np.allclose(resumed.video.embeddings, video().embeddings)
        t3 = eng.run_turn(resumed, "slower")
        # The accepted track anchors; exclusions and rejections survive the restart.
        assert t3.anchor_id == t2.recommendations[0].id
        assert all(not present(eng, r.id, "drums") for r in t3.recommendations), (
            t3.notes,
            [(r.title, r.bpm, r.tags) for r in t3.recommendations],
            [(r.title, r.bpm) for r in t2.recommendations],
        )
        assert not resumed.rejected & {r.id for r in t3.recommendations}
    with SessionStore.in_data_dir(settings.data_dir) as store:
        assert len(store.load(sid).turns) == 3


def test_unknown_session(engine: ChatEngine) -> None:
    from musechat_tui.engine import SessionError

    with pytest.raises(SessionError, match="no session"):
        engine.resume("deadbeef")


def test_every_concept_maps_to_real_tags() -> None:
    vocabulary = {t.lower() for v in TAGS.values() for t in v}
    for concept in CONCEPTS_BY_NAME.values():
        assert set(concept.tags) <= vocabulary, concept.name


class RecordingExplainer(TemplateExplainer):
    """The template, keeping the facts it was given."""

    def __init__(self) -> None:
        self.seen: list = []

    def stream(self, facts):  # type: ignore[no-untyped-def]
        self.seen.append(facts)
        return super().stream(facts)


def test_explanation_facts_carry_the_track_embedding(
    tmp_path: Path, library: Path, text_encoder: object
) -> None:
    """A trained generator conditions on the recommended track's catalog embedding: the
    engine hands it over with the facts (unit norm, the catalog's dimension)."""
    explainer = RecordingExplainer()
    settings = make_settings(tmp_path, library)
    with ChatEngine(settings, explainer=explainer, text_encoder=text_encoder) as eng:
        session = eng.start(video())
        turn = eng.run_turn(session)
        assert eng.explain_text(session, turn)
        facts = explainer.seen[-1]
        top = turn.recommendations[0]
        stored = eng.catalog.get_track(top.id, segments=False).embedding
        assert facts.track.title == top.title and facts.track.vector is not None
        np.testing.assert_allclose(facts.track.vector, stored / np.linalg.norm(stored), atol=1e-6)
        assert facts.track == dataclasses.replace(facts.track, vector=None)  # not compared


def test_explanations_read_the_video_and_say_what_changed(engine: ChatEngine) -> None:
    """Turn 1 names what in the video led where and what the track has; later turns say
    what changed against the previous pick and which words were met; a speaking video
    asks for no vocals; no two explanations of a session are the same."""
    from musechat_tui.explain.grounding import contradictions

    spoken = dataclasses.replace(video(), sound="speech", motion=0.2, cut_rate=12.0)
    session = engine.start(spoken)
    texts = []
    for text in (None, "slower, more piano", "no vocals"):
        turn = engine.recommend(session, text)
        facts, _ = engine.explanation_facts(session, turn)
        said = engine.explain_text(session, turn)
        texts.append(said)
        assert {c.kind for c in facts.cues} >= {"pace", "sound"}
        assert sum(c.seen in said for c in facts.cues) >= 2, said
        top = turn.recommendations[0]
        assert f"{top.bpm:.0f} BPM" in said and facts.section and facts.section in said
        assert contradictions(said, facts) == []
        if text is not None:
            assert "previous pick" in said
    assert "speech" in " ".join(c.seen for c in facts.cues) or "spoken" in texts[0]
    assert "piano" in texts[1]
    assert len(set(texts)) == len(texts)


def test_the_text_model_loads_when_first_needed(tmp_path: Path, library: Path) -> None:
    """The engine's own text model is lazy: a first turn whose query vectors are on disk
    (a reopen) never loads it; warm_up loads it ahead of the first typed request."""
    from musechat_tui.encoders import LazyTextEncoder

    settings = make_settings(tmp_path, library)
    with ChatEngine(settings, explainer=TemplateExplainer()) as first:
        assert isinstance(first.text_encoder, LazyTextEncoder)
        first.recommend(first.start(video()))  # encodes (and keeps) the video's query
    with ChatEngine(settings, explainer=TemplateExplainer()) as again:
        turn = again.recommend(again.start(video()))
        assert turn.recommendations and again.text_encoder._loaded is None
        again.warm_up()
        assert again.text_encoder._loaded is not None
        assert again.recommend(again.store.load("last"), "no drums").recommendations
