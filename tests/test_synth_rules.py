"""`synth` without models: the paper's rules (planted violations, the paper's own
examples), the offline generator, the prompt template, the corpus and split, candidate
picking, the work journals and shards, and the OpenAI client's retries and rate limit
against a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from builder.synth.candidates import Want, pick_candidates
from builder.synth.corpus import assign_splits, read_corpus
from builder.synth.facts import PromptTrackFacts, identity
from builder.synth.features import ShardWriter
from builder.synth.offline import generate
from builder.synth.openai_gen import (
    AnswerCache,
    LLMError,
    LLMRequestRejected,
    OpenAIGenerator,
    RateLimiter,
)
from builder.synth.prompt import FIELDS, fill, load_template, parse_conversation
from builder.synth.scorer import BaseScorer, VideoFacts
from builder.synth.state import StateMismatchError, WorkState
from builder.synth.validate import TagMatcher, load_vocabulary, validate
from musechat_tui.config import REPO_DATA_DIR
from musechat_tui.dataset import Turn

VOCAB = json.loads((REPO_DATA_DIR / "musicnn" / "tags.json").read_text())
MATCHER = TagMatcher(load_vocabulary(REPO_DATA_DIR / "musicnn"))

TARGET = PromptTrackFacts(
    "Scott Joplin - Maple Leaf Rag",
    "Maple Leaf Rag",
    "music21 corpus",
    "Scott Joplin",
    ["piano", "classical", "solo", "fast", "harpsichord"],
    ["jazz", "instrumental", "oldies", "blues", "easy listening"],
)
CANDIDATE = PromptTrackFacts(
    "Track 5",
    "Track 5",
    None,
    "Drascula OST",
    ["guitar", "slow", "country", "pop", "drums"],
    ["country", "rock", "pop", "folk", "instrumental"],
)


def convo(t1: str, t2: str, t3: str, t4: str) -> list[Turn]:
    return [Turn("user", t1), Turn("system", t2), Turn("user", t3), Turn("system", t4)]


GOOD = convo(
    "Can you recommend a music for my video?",
    "Based on your video, I recommend 'Track 5' by Drascula OST. It's a slow country and "
    "folk song with guitar and drums.",
    "That sounds great, but I'd like something faster, more jazz and blues, with piano.",
    "Certainly! How about 'Maple Leaf Rag' by Scott Joplin? It's a fast jazz piece with "
    "piano and a solo performance, with an oldies sound.",
)


def codes(turns: list[Turn]) -> list[tuple[str, int]]:
    return [(v.code, v.turn) for v in validate(turns, TARGET, CANDIDATE, MATCHER)]


# --------------------------------------------------------------------------- validation


def test_a_rule_abiding_conversation_passes() -> None:
    assert codes(GOOD) == []


@pytest.mark.parametrize(
    "t3",
    [
        "I want something like Maple Leaf Rag instead.",
        "more like maple-leaf rag, please",  # case and punctuation do not hide it
        "Could you play MAPLE LEAF RAG?",
    ],
)
def test_title_leak_in_a_user_turn_is_caught(t3: str) -> None:
    turns = convo(GOOD[0].text, GOOD[1].text, t3, GOOD[3].text)
    assert ("title_leak", 3) in codes(turns)


def test_title_leak_in_the_first_turn_is_caught() -> None:
    turns = convo("Play Maple Leaf Rag for my video", *(t.text for t in GOOD[1:]))
    assert ("title_leak", 1) in codes(turns)


def test_a_system_turn_that_does_not_name_its_track_is_caught() -> None:
    t2 = "Based on your video, I recommend a slow country song with guitar."
    t4 = "Certainly! Here is a fast jazz piece with piano."
    assert ("missing_recommendation", 2) in codes(convo(GOOD[0].text, t2, GOOD[2].text, t4))
    assert ("missing_recommendation", 4) in codes(convo(GOOD[0].text, t2, GOOD[2].text, t4))


def test_naming_the_target_in_t2_is_caught() -> None:
    t2 = GOOD[1].text + " Or maybe 'Maple Leaf Rag'."
    assert ("names_target_early", 2) in codes(convo(GOOD[0].text, t2, *(t.text for t in GOOD[2:])))


def test_a_claimed_tag_the_track_lacks_is_caught() -> None:
    t4 = "How about 'Maple Leaf Rag' by Scott Joplin? It's a jazz track with female vocals."
    found = validate(convo(*(t.text for t in GOOD[:3]), t4), TARGET, CANDIDATE, MATCHER)
    assert [(v.code, v.turn) for v in found] == [("tag_not_of_track", 4)]
    assert "female vocal" in found[0].detail
    # a candidate's tag claimed for the target is just as wrong
    t4 = "How about 'Maple Leaf Rag'? It's a country piece."
    assert ("tag_not_of_track", 4) in codes(convo(*(t.text for t in GOOD[:3]), t4))


def test_negations_names_and_the_users_video_are_not_tag_claims() -> None:
    t2 = (
        "For your dance video I recommend 'Track 5' by Drascula OST: no vocals, "
        "without piano, and it isn't loud. It's a country song."
    )
    assert codes(convo(GOOD[0].text, t2, *(t.text for t in GOOD[2:]))) == []
    # a tag word inside the track's own name is not a claim either
    cand = PromptTrackFacts("Crown The Empire / Voices (Official Music Video)", None, None, None,
                      ["loud"], ["rock"])  # fmt: skip
    turns = convo("Music?", "I recommend 'Voices' by Crown The Empire, loud rock.", "More?",
                  "How about 'Maple Leaf Rag'? It's jazz.")  # fmt: skip
    assert validate(turns, TARGET, cand, MATCHER) == []


def test_variants_of_a_tag_match_the_tracks_tag() -> None:
    t = PromptTrackFacts("X", None, None, None, ["male vocal", "beats"], ["Hip-Hop", "chillout"])
    for claim in ("vocals", "male vocals", "a male voice", "beat", "hip hop", "chill"):
        assert MATCHER.claims(f"it has {claim}") and not validate(
            convo("a", f"Try 'Y'. It has {claim}.", "b", f"Try 'X'. It has {claim}."),
            t,
            PromptTrackFacts(
                "Y", None, None, None, ["male vocal", "beats"], ["Hip-Hop", "chillout"]
            ),
            MATCHER,
        ), claim


def test_malformed_answers_are_caught() -> None:
    assert codes(GOOD[:3]) == [("malformed", 0)]
    assert codes([GOOD[1], GOOD[0], GOOD[2], GOOD[3]]) == [("malformed", 0)]
    assert codes(convo("", *(t.text for t in GOOD[1:]))) == [("malformed", 0)]


PAPER_EXAMPLE_1 = """**User:** Can you recommend a music for my video?

**System:** Based on your video, I recommend 'Obrigado' by Dengaz. It's a track from the album \
'AHYA' and features Dino. This song combines elements of hip-hop, rock, pop, and electronic \
music with soulful vocals. It has a techno and fast-paced sound too.

**User:** That sounds great, but I also want to incorporate some rock and indie elements into \
my video. Do you have any recommendations that align with those genres?

**System:** Certainly! How about 'Shine' by New TV Wonders? It's a rock and indie track from \
their album 'The Ostrich Maneuver'. The song has alternative and pop influences as well. It \
was released in spring 2012 and directed by Hans Frederik Munch."""


def test_the_papers_example_1_parses_and_passes() -> None:
    original = PromptTrackFacts("New TV Wonders - Shine", "Shine", None, "New TV Wonders",
                          ["rock", "guitar", "pop", "male", "male vocal"],
                          ["rock", "indie", "alternative", "indie rock", "pop"])  # fmt: skip
    candidate = PromptTrackFacts("Dengaz - Obrigado (feat. Dino) (Directed By DNG)", "Obrigado",
                           "AHYA", "Dengaz", ["techno", "electronic", "pop", "vocal", "fast"],
                           ["Hip-Hop", "rock", "pop", "electronic", "soul"])  # fmt: skip
    turns = parse_conversation(PAPER_EXAMPLE_1)
    assert [t.role for t in turns] == ["user", "system", "user", "system"]
    assert turns[3].recommends == "target" and turns[1].recommends == "candidate"
    assert turns[2].text.startswith("That sounds great")
    assert validate(turns, original, candidate, MATCHER) == []


def test_the_papers_example_2_is_flagged_for_catchy() -> None:
    """The paper's example 2 calls the original 'catchy', not among its tags: strict."""
    text = (
        "User: Can you recommend a music for my video?\nSystem: Based on your video, I "
        "recommend 'Voices' by Crown The Empire. It's a loud and fast-paced track with a mix "
        "of electronic and rock elements.\nUser: I'm also looking for a song with a female "
        "vocal and a pop/rock sound.\nSystem: Certainly! I suggest 'I Knew You Were Trouble' "
        "by Madilyn Bailey. It has a pop/rock sound with a female vocal. This track can add a "
        "catchy element to your video."
    )
    original = PromptTrackFacts('Caroline & Damon "i knew you were trouble..."',
                          "I Knew You Were Trouble", None, "Madilyn Bailey",
                          ["female", "woman", "vocal", "guitar", "female vocal"],
                          ["female vocalists", "pop", "folk", "rock", "indie"])  # fmt: skip
    candidate = PromptTrackFacts(
        "Crown The Empire / Voices (Official Music Video)",
        mtt=["loud", "rock", "fast", "techno", "electronic"],
        msd=["metal", "electronic", "rock", "experimental", "alternative"],
    )
    found = validate(parse_conversation(text), original, candidate, MATCHER)
    assert [(v.code, v.turn) for v in found] == [("tag_not_of_track", 4)]
    assert "catchy" in found[0].detail


# --------------------------------------------------------------------------- offline generator


def random_facts(rng: np.random.Generator, n: int) -> PromptTrackFacts:
    return PromptTrackFacts(
        f"Title {n}",
        f"Song {n}" if rng.random() < 0.7 else None,
        "Album" if rng.random() < 0.4 else None,
        "Artist" if rng.random() < 0.7 else None,
        list(rng.choice(VOCAB["mtt"], 5, replace=False)),
        list(rng.choice(VOCAB["msd"], 5, replace=False)),
    )


def test_offline_conversations_keep_the_rules_and_vary() -> None:
    rng = np.random.default_rng(3)
    t3s = set()
    for i in range(300):
        target, candidate = random_facts(rng, 2 * i), random_facts(rng, 2 * i + 1)
        video = VideoFacts("v", [], float(rng.random()), float(rng.random()), float(rng.random()))
        turns = generate(target, candidate, np.random.default_rng(i), video)
        assert validate(turns, target, candidate, MATCHER) == [], [t.text for t in turns]
        assert [t.recommends for t in turns] == [None, "candidate", None, "target"]
        t3s.add(turns[2].text)
    assert len(t3s) > 250  # varied phrasing, not one template


def test_offline_t3_asks_for_what_the_original_has_and_the_candidate_lacks() -> None:
    turns = generate(TARGET, CANDIDATE, np.random.default_rng(0))
    asked = set(MATCHER.claims(turns[2].text))
    assert asked and asked <= {t.lower() for t in TARGET.tags}
    assert not asked & {t.lower() for t in CANDIDATE.tags if t != "instrumental"}
    assert generate(TARGET, CANDIDATE, np.random.default_rng(0)) == turns  # seeded


# --------------------------------------------------------------------------- prompt


def test_the_template_is_the_papers_figure_6_with_fields() -> None:
    text = load_template()
    assert text.startswith("You are simulating a conversation between a user and a music")
    assert "user must not mention original music name or title" in text
    assert "Xeque-Mate" in text and "DOMINIQUAIN" in text
    filled = fill(text, TARGET, CANDIDATE)
    assert "{" not in filled.split("Given the following information")[1]
    assert (
        "Original music: Title: Scott Joplin - Maple Leaf Rag. Track name: Maple Leaf Rag. "
        "Album name: music21 corpus. Artists: Scott Joplin. MSD tags: jazz, instrumental, "
        "oldies, blues, easy listening. MTT tags: piano, classical, solo, fast, harpsichord."
    ) in filled
    assert "Candidate music: Title: Track 5. Track name: Track 5. Album name: None." in filled
    assert len(FIELDS) == 6


def test_a_template_without_a_field_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "t.txt"
    bad.write_text("# comment\nOriginal: {original_title}\n")
    with pytest.raises(Exception, match="has no"):
        load_template(bad)


def test_parse_tolerates_other_role_spellings() -> None:
    text = "Sure! Here it is:\nUser: hi\nRecommender: try 'A'\n**User**: more\nAssistant: 'B'"
    assert [t.role for t in parse_conversation(text)] == ["user", "system", "user", "system"]
    assert parse_conversation("no roles here") == []


# --------------------------------------------------------------------------- corpus and split


def test_corpus_from_folder_jsonl_and_csv(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    for name in ("b.mp4", "a.mkv", "song.ogg", ".hidden.mp4"):
        (tmp_path / "v" / name).write_bytes(b"x")
    (tmp_path / "m.ogg").write_bytes(b"x")
    failures: list[tuple[str, str]] = []
    entries = read_corpus(tmp_path / "v", failures)
    assert [e.video.name for e in entries] == ["a.mkv", "b.mp4"] and entries[0].own_audio

    lst = tmp_path / "pairs.jsonl"
    lst.write_text(
        '{"video": "v/a.mkv", "music": "m.ogg"}\n{"video": "v/b.mp4"}\nnot json\n'
        '{"video": "v/missing.mp4"}\n{"video": "v/a.mkv", "music": "m.ogg"}\n'
    )
    entries = read_corpus(lst, failures)
    assert [(e.video.name, e.music.name) for e in entries] == [
        ("a.mkv", "m.ogg"),
        ("b.mp4", "b.mp4"),
    ]
    assert any("not a JSON object" in r for _, r in failures)
    assert any("does not exist" in r for _, r in failures)

    csv = tmp_path / "pairs.csv"
    csv.write_text("video,music\nv/a.mkv,m.ogg\nv/b.mp4,\n")
    assert [(e.video.name, e.music.name) for e in read_corpus(csv, [])] == [
        ("a.mkv", "m.ogg"),
        ("b.mp4", "b.mp4"),
    ]


def test_split_is_fixed_by_seed_and_independent_of_order() -> None:
    ids = [f"{i:04x}" for i in range(100)]
    a = assign_splits(ids, 0.1, seed=7)
    assert a == assign_splits(list(reversed(ids)), 0.1, seed=7)
    assert sum(v == "test" for v in a.values()) == 10
    assert a != assign_splits(ids, 0.1, seed=8)
    assert list(assign_splits(["a", "b"], 0.1, 0).values()).count("test") == 1


# --------------------------------------------------------------------------- candidates


class FixedScorer(BaseScorer):
    """Scores tracks by a fixed per-row value: enough to check the picking logic."""

    id = "fixed"

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def prepare(self, music: object) -> None:
        pass

    def scores(self, video: VideoFacts, rows: np.ndarray) -> np.ndarray:
        return self.values[rows]


def test_candidates_exclude_the_original_and_its_copies_and_respect_the_window() -> None:
    n = 40
    facts = [PromptTrackFacts(f"S{i % 30}", None, None, "A") for i in range(n)]  # 10 songs twice
    idents = [identity(f) for f in facts]
    values = np.linspace(1, 0, n)  # row 0 best
    video = VideoFacts("v", [], 0.5, 0.2, 0.05)
    wants = [Want(f"q{i}", "train" if i < 30 else "test", video, i) for i in range(n)]
    picks, none = pick_candidates(
        wants, idents, FixedScorer(values), {"train": 12, "test": 500}, (2, 5), seed=1
    )
    assert not none
    for w in wants:
        p = picks[w.id]
        assert p.candidate != w.target and idents[p.candidate] != idents[w.target]
        assert 2 <= p.rank <= 5
        same_split = [x.target for x in wants if x.split == w.split]
        assert p.candidate in same_split
        assert p.pool_size == (12 if w.split == "train" else 10 - 1)
    again, _ = pick_candidates(
        wants, idents, FixedScorer(values), {"train": 12, "test": 500}, (2, 5), seed=1
    )
    assert again == picks
    # the best track of the corpus is ranked first in any pool it is in
    assert all(p.target_rank == 1 for q, p in picks.items() if q == "q0")


def test_a_window_past_the_pool_is_cut_and_a_lonely_item_has_no_candidate() -> None:
    facts = [PromptTrackFacts(f"S{i}") for i in range(3)]
    video = VideoFacts("v", [], 0.5, 0.2, 0.05)
    wants = [
        Want("a", "train", video, 0),
        Want("b", "train", video, 1),
        Want("c", "test", video, 2),
    ]
    picks, none = pick_candidates(
        wants, [identity(f) for f in facts], FixedScorer(np.arange(3.0)), {}, (5, 50), 0
    )
    assert none == ["c"] and picks["a"].rank == 1 and picks["a"].candidate == 1


# --------------------------------------------------------------------------- journals and shards


def test_journal_ignores_a_torn_last_line_and_config_must_match(tmp_path: Path) -> None:
    st = WorkState(tmp_path)
    st.append("x.jsonl", [{"a": 1}, {"a": 2}])
    with open(st.path("x.jsonl"), "a") as f:
        f.write('{"a": 3')  # killed mid-write
    assert st.read("x.jsonl") == [{"a": 1}, {"a": 2}]
    st.check_config({"fps": 1.0})
    st.check_config({"fps": 1.0})
    with pytest.raises(StateMismatchError, match="fps"):
        st.check_config({"fps": 5.0})


def test_shard_writer_writes_whole_shards_and_names_them(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    w = ShardWriter(tmp_path, next_index=3, max_items=2, max_bytes=1 << 30)
    assert w.add({"a/x": np.ones((2, 3), np.float16)}, [{"key": "a"}]) == []
    done = w.add({"b/x": np.zeros((1, 3), np.float16)}, [{"key": "b"}])
    assert [r["shard"] for r in done] == ["shard-00003.safetensors"] * 2
    w.add({"c/x": np.zeros((4,), np.float16)}, [{"key": "c"}])
    assert [r["shard"] for r in w.flush()] == ["shard-00004.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shard-00003.safetensors",
        "shard-00004.safetensors",
    ]
    assert load_file(str(tmp_path / "shard-00003.safetensors"))["a/x"].shape == (2, 3)


# --------------------------------------------------------------------------- OpenAI client


class FlakyHandler(BaseHTTPRequestHandler):
    """A chat-completions endpoint that answers the scripted status codes in turn."""

    script: list[int] = []
    calls: list[dict] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        status = type(self).script.pop(0) if type(self).script else 200
        if status == 200:
            payload = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "User: hi\nSystem: 'A'"},
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            }
        else:
            payload = {"error": {"message": f"status {status}", "type": "x"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0.05")
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def flaky_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FlakyHandler.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_transient_errors_are_retried_then_answered_and_cached(flaky_server, tmp_path) -> None:
    FlakyHandler.script = [503, 429, 500]
    gen = OpenAIGenerator(flaky_server, "m", tmp_path / "cache", backoff=0.01, max_retries=5)
    assert gen.complete("hello") == "User: hi\nSystem: 'A'"
    assert gen.stats.retries == 3 and gen.stats.requests == 4
    # a new run with the same cache does not ask again
    again = OpenAIGenerator(flaky_server, "m", tmp_path / "cache", backoff=0.01)
    assert again.complete("hello") == "User: hi\nSystem: 'A'"
    assert again.stats.requests == 0 and again.stats.cache_hits == 1
    assert len(FlakyHandler.calls) == 4
    # another attempt is another request (a regeneration), with its own seed
    again.complete("hello", attempt=1)
    assert FlakyHandler.calls[-1]["seed"] == 1 and again.stats.requests == 1


def test_exhausted_retries_rejections_and_bad_keys(flaky_server, tmp_path) -> None:
    FlakyHandler.script = [503, 503, 503]
    gen = OpenAIGenerator(flaky_server, "m", tmp_path / "c", backoff=0.01, max_retries=2)
    with pytest.raises(LLMError, match="after 2 retries"):
        gen.complete("p")
    FlakyHandler.script = [400]
    with pytest.raises(LLMRequestRejected):
        gen.complete("q")
    FlakyHandler.script = [401]
    with pytest.raises(LLMError, match="access refused"):
        gen.complete("r")


def test_rate_limit_spaces_requests() -> None:
    limiter = RateLimiter(rpm=600)  # one per 0.1 s
    t0 = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - t0 >= 0.39


def test_answer_cache_keys_on_the_whole_request(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    k1 = cache.key({"prompt": "a", "t": 0.7})
    assert k1 == cache.key({"t": 0.7, "prompt": "a"}) != cache.key({"prompt": "a", "t": 0.8})
    cache.put(k1, {"text": "x"})
    assert cache.get(k1) == {"text": "x"} and cache.get("0" * 64) is None


# --------------------------------------------------------------------------- base scorer


def test_the_zero_shot_scorer_matches_footage_to_music() -> None:
    """Real MiniLM: busy, bright, colourful footage prefers loud, fast, bright, major
    tracks; dark, still, muted footage prefers quiet, slow, dull, minor ones."""
    from builder.synth.scorer import CorrespondenceScorer, MusicFacts, video_words
    from musechat_tui.config import load_settings
    from musechat_tui.encoders import build_text_encoder

    scorer = CorrespondenceScorer(build_text_encoder(load_settings(Path("/nonexistent.toml"))))
    music = [
        MusicFacts("fast", ["fast", "loud", "beat", "drums", "dance"], 140, -9, 3000.0, 0.2),
        MusicFacts("slow", ["slow", "quiet", "ambient", "piano"], 70, -30, 600.0, -0.2),
        MusicFacts("mid", ["guitar", "pop", "rock"]),  # nothing measured: neutral
    ]
    busy = VideoFacts("busy", [("stage", 0.4)], brightness=0.75, colourfulness=0.5, motion=0.2)
    calm = VideoFacts("calm", [], brightness=0.15, colourfulness=0.1, motion=0.01)
    scorer.calibrate([busy, calm])
    scorer.prepare(music)
    assert "fast" in video_words(busy) and "slow" in video_words(calm)
    rows = np.arange(3)
    assert list(scorer.rank(busy, rows)) == [0, 2, 1]
    assert list(scorer.rank(calm, rows)) == [1, 2, 0]
    # correspondences are relative to the corpus: an average video leans on the text only
    middle = VideoFacts("mid", [], brightness=0.45, colourfulness=0.3, motion=0.105)
    assert abs(scorer.video_z(middle, "motion")) < 1e-6


def test_shard_writer_flushes_a_shard_open_too_long(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, next_index=0, max_items=100, max_bytes=1 << 30, max_seconds=0.0)
    assert [r["shard"] for r in w.add({"a/x": np.ones(2, np.float16)}, [{"key": "a"}])] == [
        "shard-00000.safetensors"
    ]
