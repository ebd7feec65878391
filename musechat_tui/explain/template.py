"""The planned explanation: sentences from typed facts only (what in the video led to the
pick, what the track has, what changed against the previous pick, which of the user's
words are met or relaxed), always available, and what an LLM may only rephrase: it is
shown whenever the LLM fails, times out or says something the facts do not support.
Tempo and loudness words come from the measurements, so no sentence says "slow" of a
150 BPM track whatever its tags say.

The phrasing varies between tracks (so a list of five does not read like a form letter), but
is chosen by a hash of the facts: the same facts always give the same text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

from musechat_tui.analysis import tempo_word
from musechat_tui.clock import clock
from musechat_tui.explain.base import Explainer
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
from musechat_tui.explain.grounding import (
    consistent_loudness_word,
    consistent_tempo_word,
    has_vocals,
    normalise,
)

# How a tag reads in a sentence. Instruments and voices go after "with"; eras become a feel;
# everything else (genres, moods, tempo words) is used as an adjective.
_NOUNS = {
    "guitar": "guitar",
    "strings": "strings",
    "drums": "drums",
    "piano": "piano",
    "violin": "violin",
    "synth": "synth",
    "flute": "flute",
    "harpsichord": "harpsichord",
    "sitar": "sitar",
    "harp": "harp",
    "cello": "cello",
    "choir": "a choir",
    "choral": "a choir",
    "beat": "a steady beat",
    "beats": "beats",
    "vocal": "vocals",
    "vocals": "vocals",
    "voice": "vocals",
    "singing": "vocals",
    "opera": "opera vocals",
    "female": "female vocals",
    "woman": "female vocals",
    "female vocal": "female vocals",
    "female voice": "female vocals",
    "female vocalist": "female vocals",
    "female vocalists": "female vocals",
    "male": "male vocals",
    "man": "male vocals",
    "male vocal": "male vocals",
    "male voice": "male vocals",
    "male vocalists": "male vocals",
}
_ADJECTIVES = {"no vocals": "instrumental", "no vocal": "instrumental", "no voice": "instrumental"}
_ERAS = {"00s": "2000s", "60s": "60s", "70s": "70s", "80s": "80s", "90s": "90s"}

_OPEN_FIRST = (
    'My top pick is "{title}"{by}.',
    '"{title}"{by} leads the list.',
    'First choice: "{title}"{by}.',
    'Start with "{title}"{by}.',
)
_OPEN_OTHER = (
    'At #{rank}: "{title}"{by}.',
    'Also worth a try: "{title}"{by}.',
    '"{title}"{by} comes in at #{rank}.',
    'Another option is "{title}"{by}.',
)
_CUES_TWO = (
    "The video's {s1} asks for {a1}{m1}, and its {s2} for {a2}{m2}.",
    "In the video, the {s1} asks for {a1}{m1}; the {s2} asks for {a2}{m2}.",
    "What the video gives: its {s1}, which asks for {a1}{m1}, and its {s2}, which asks for "
    "{a2}{m2}.",
)
_CUES_ONE = ("The video's {s1} asks for {a1}{m1}.", "In the video, the {s1} asks for {a1}{m1}.")
_MET = {True: " and gets it", False: " but does not get it here", None: ""}
_PIECE = ("piece", "track", "tune")
_TEMPO_TAGS = frozenset(("slow", "fast", "moderate"))
_TRACK = (
    "It is {a} {adj} {piece}{with_}{era}, {tempo}{key}.",
    "Expect {a} {adj} {piece}{with_}{era}, {tempo}{key}.",
    "Musically it is {a} {adj} {piece}{with_}{era}, {tempo}{key}.",
)
_TRACK_NOUNS = (
    "It is built on {nouns}{era}, {tempo}{key}.",
    "It features {nouns}{era}, {tempo}{key}.",
)
_TRACK_BARE = ("It moves {tempo}{key}.",)
_TEMPO = ("at {bpm} BPM, a {word} tempo", "at a {word} {bpm} BPM")
_LENGTH_COVERS = (
    "At {track} it covers the whole {video} video.",
    "It runs {track}, enough for the {video} video.",
)
_LENGTH_SHORT = (
    "At {track} it is shorter than the {video} video: loop it or add a second track.",
    "It runs {track}, less than the {video} video, so it would need a loop.",
)
_LENGTH_MATCH = ("At {track} it is about as long as the {video} video.",)
_ASKED = ("As you asked: {matched}.", "It meets what you asked for: {matched}.")
_RELAXED = (
    "No track met every request at once, so {relaxed} gave way.",
    "Nothing in the catalog met all of it, so {relaxed} was relaxed.",
)
_CLOSEST = (
    'It is the closest match in the catalog to your request ("{request}").',
    'Of the tracks available, it comes closest to "{request}".',
)
_COMPARE = ("Compared with the previous pick, it {diff}.", "Unlike the previous pick, it {diff}.")
_SAME = ("It keeps the character of the previous pick.",)
_SECTION = ("The preview plays it {section}.", "The preview runs {section}.")


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def article(word: str) -> str:
    return "an" if re.match(r"[aeiou8]", word) else "a"


def _render(tag: str) -> tuple[str, str]:
    """('noun' | 'adj' | 'era', how the tag reads)."""
    t = normalise(tag)
    if t in _NOUNS:
        return "noun", _NOUNS[t]
    if t in _ERAS:
        return "era", _ERAS[t]
    return "adj", _ADJECTIVES.get(t, t)


def _distinct(tags: Sequence[str]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for tag in tags:
        kind, text = _render(tag)
        if text not in seen:
            seen.add(text)
            out.append((kind, text))
    # 'vocals' says less than 'male vocals': keep the specific one only.
    return [(k, w) for k, w in out if not any(o.endswith(" " + w) for _, o in out)]


def _video_phrase(video: str) -> str:
    video = video.strip().rstrip(".")
    if not video:
        return "video"
    return video if "video" in video.lower() else f"video ({video})"


def _request_phrase(request: str) -> str:
    request = " ".join(request.split()).strip()
    if len(request) <= 80:
        return request
    return request[:77].rsplit(" ", 1)[0]


class _Picker:
    """Deterministic choices from a hash of the facts."""

    def __init__(self, facts: ExplanationFacts) -> None:
        t = facts.track
        key = repr(
            (t.title, t.artist, t.tags, t.bpm, facts.rank, facts.video, facts.request)
            + (facts.matched, facts.previous.title if facts.previous else None)
        )
        self._h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")

    def pick(self, options: Sequence[str]) -> str:
        choice = options[self._h % len(options)]
        self._h //= 7919  # a new, still deterministic, choice for the next part
        return choice

    def count(self, low: int, high: int) -> int:
        n = low + self._h % (high - low + 1)
        self._h //= 7919
        return n


_FIT_PLAIN = ("It suits the {video}.", "It fits the {video}.", "It matches the {video}.")


def _cues(facts: ExplanationFacts, picker: _Picker) -> str | None:
    """What in the video led here: two cues (met ones first), each with what it asks;
    without measured cues, the video's description."""
    cues = list(facts.cues[:2])
    if not cues:
        return picker.pick(_FIT_PLAIN).format(video=_video_phrase(facts.video))
    fill = {"s1": cues[0].seen, "a1": cues[0].asks, "m1": _MET[cues[0].met]}
    if len(cues) == 1:
        return picker.pick(_CUES_ONE).format(**fill)
    fill |= {"s2": cues[1].seen, "a2": cues[1].asks, "m2": _MET[cues[1].met]}
    return picker.pick(_CUES_TWO).format(**fill)


def said_tags(track: TrackFacts) -> list[tuple[str, str]]:
    """The track's tags as they may be said: rendered, without tempo or loudness words
    that its measurements contradict, and with its voice (or none) stated once."""
    out = []
    for kind, word in _distinct(track.tags):
        if not consistent_tempo_word(track, word) or not consistent_loudness_word(track, word):
            continue
        out.append((kind, word))
    if has_vocals(track):
        out = [(k, w) for k, w in out if w != "instrumental"]
    return out


def _track(facts: ExplanationFacts, picker: _Picker) -> str:
    """What the track has: its strongest tags, voice or none, tempo and key."""
    track = facts.track
    word = tempo_word(track.bpm)
    # The tempo is said once, from the measurement: tempo tags would only repeat it.
    rendered = [(k, w) for k, w in said_tags(track) if not (word and w in _TEMPO_TAGS)]
    chosen = rendered[: min(len(rendered), picker.count(3, 4))]
    adjs = [w for k, w in chosen if k == "adj"]
    nouns = [w for k, w in chosen if k == "noun"]
    eras = [w for k, w in chosen if k == "era"]
    era = f", with {article(eras[0])} {eras[0]} feel" if eras else ""
    tempo = (
        picker.pick(_TEMPO).format(bpm=f"{track.bpm:.0f}", word=word)
        if track.bpm and word
        else "at an unmeasured tempo"
    )
    key = f", in {track.key}" if track.key else ""
    if adjs:
        adj = ", ".join(adjs)
        with_ = f" with {_join(nouns)}" if nouns else ""
        return picker.pick(_TRACK).format(
            a=article(adj), adj=adj, piece=picker.pick(_PIECE), with_=with_, era=era,
            tempo=tempo, key=key,
        )  # fmt: skip
    if nouns:
        return picker.pick(_TRACK_NOUNS).format(nouns=_join(nouns), era=era, tempo=tempo, key=key)
    return picker.pick(_TRACK_BARE).format(tempo=tempo, key=key)


def _length(facts: ExplanationFacts, picker: _Picker) -> str | None:
    video = facts.video_duration
    if not video or not facts.track.duration:
        return None
    d = facts.track.duration
    times = {"track": clock(d), "video": clock(video)}
    if d >= video * 1.1:
        return picker.pick(_LENGTH_COVERS).format(**times)
    if d < video * 0.9:
        return picker.pick(_LENGTH_SHORT).format(**times)
    return picker.pick(_LENGTH_MATCH).format(**times)


def _request(facts: ExplanationFacts, picker: _Picker) -> str | None:
    if not facts.request:
        return None
    parts = []
    if facts.matched:
        parts.append(picker.pick(_ASKED).format(matched=_join(facts.matched)))
    if facts.relaxed:
        relaxed = _join([f'"{r}"' for r in facts.relaxed])
        parts.append(picker.pick(_RELAXED).format(relaxed=relaxed))
    if not parts:
        parts.append(picker.pick(_CLOSEST).format(request=_request_phrase(facts.request)))
    return " ".join(parts)


def _difference(facts: ExplanationFacts, picker: _Picker) -> str | None:
    prev, track = facts.previous, facts.track
    if prev is None:
        return None
    is_: list[str] = []
    if track.bpm and prev.bpm and abs(track.bpm - prev.bpm) >= 5:
        word = "slower" if track.bpm < prev.bpm else "faster"
        is_.append(f"{word} ({track.bpm:.0f} vs {prev.bpm:.0f} BPM)")
    if (
        track.loudness_db is not None
        and prev.loudness_db is not None
        and abs(track.loudness_db - prev.loudness_db) >= 3
    ):
        is_.append("quieter" if track.loudness_db < prev.loudness_db else "louder")
    # With both tempi measured, the BPM comparison says it: tempo tags would repeat it.
    timed = track.bpm is not None and prev.bpm is not None
    mine, theirs = (
        [(k, w) for k, w in said_tags(t) if not (timed and w in _TEMPO_TAGS)] for t in (track, prev)
    )
    added = [(k, w) for k, w in mine if (k, w) not in theirs]
    dropped = [(k, w) for k, w in theirs if (k, w) not in mine]
    parts = [f"is {_join(is_)}"] if is_ else []
    if nouns := [w for k, w in added if k == "noun"][:2]:
        parts.append(f"brings in {_join(nouns)}")
    if adjs := [w for k, w in added if k != "noun"][:1]:
        parts.append(f"leans {adjs[0]}")
    if nouns := [w for k, w in dropped if k == "noun"][:2]:
        parts.append(f"leaves out {_join(nouns)}")
    if adjs := [w for k, w in dropped if k != "noun"][:1]:
        parts.append(f"is less {adjs[0]}")
    if not parts:
        return picker.pick(_SAME)
    return picker.pick(_COMPARE).format(diff=_join(parts[:3]))  # three differences at most


def _section(facts: ExplanationFacts, picker: _Picker) -> str | None:
    return picker.pick(_SECTION).format(section=facts.section) if facts.section else None


def plan_sentences(facts: ExplanationFacts) -> list[str]:
    """The explanation as sentences, each from typed facts: the pick, what in the video
    led there, what the track has, its length against the video, what changed against
    the previous pick, which of the user's words are met or relaxed, and the preview."""
    picker = _Picker(facts)
    track = facts.track
    by = f" by {track.artist}" if track.artist else ""
    opening = _OPEN_FIRST if facts.rank <= 1 else _OPEN_OTHER
    sentences = [picker.pick(opening).format(title=track.title, by=by, rank=facts.rank)]
    for part in (
        _difference(facts, picker),
        _request(facts, picker),
        _cues(facts, picker),
        _track(facts, picker),
        _length(facts, picker),
        _section(facts, picker),
    ):
        if part:
            sentences.append(part[0].upper() + part[1:])
    return sentences


def template_text(facts: ExplanationFacts) -> str:
    return " ".join(plan_sentences(facts))


class TemplateExplainer(Explainer):
    """Deterministic text from the facts; streamed word by word like an LLM."""

    @property
    def id(self) -> str:
        return "template"

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        yield from re.findall(r"\S+\s*", template_text(facts))

    def explain(self, facts: ExplanationFacts) -> str:
        return template_text(facts)
