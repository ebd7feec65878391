"""The deterministic explanation: built from the facts only, always available, and the
fallback whenever an LLM fails, times out or says something the facts do not support.

The phrasing varies between tracks (so a list of five does not read like a form letter), but
is chosen by a hash of the facts: the same facts always give the same text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

from musechat_tui.explain.base import Explainer
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
from musechat_tui.explain.grounding import feel_words, normalise

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
_PIECE = ("piece", "track", "tune")
_CHARACTER = (
    "It is {a} {adj} {piece}{with_}{era}.",
    "Expect {a} {adj} {piece}{with_}{era}.",
    "Musically it is {a} {adj} {piece}{with_}{era}.",
)
_CHARACTER_NOUNS = (
    "It is built on {nouns}{era}.",
    "It features {nouns}{era}.",
    "Expect {nouns}{era}.",
)
_FIT_TEMPO = (
    "Its {feel} tempo ({bpm} BPM) suits the {video}{loud}.",
    "At {bpm} BPM it moves at a {feel} pace, which fits the {video}{loud}.",
    "The {feel} {bpm} BPM pulse matches the {video}{loud}.",
)
_FIT_PLAIN = (
    "It suits the {video}.",
    "It fits the {video}.",
    "It matches the {video}.",
)
_REQUEST = (
    'It answers your request ("{request}"): {matched}.',
    'What you asked for ("{request}") is there: {matched}.',
    'It covers {matched} from your request ("{request}").',
)
_REQUEST_NONE = (
    'It is the closest match in the catalog to your request ("{request}").',
    'Of the tracks available, it comes closest to "{request}".',
)
_COMPARE = ("Compared with the previous pick, it {diff}.", "Unlike the previous pick, it {diff}.")
_SAME = ("It keeps the character of the previous pick.",)


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
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


def _character(track: TrackFacts, picker: _Picker) -> str | None:
    feel = set(feel_words(track))
    rendered = [(k, w) for k, w in _distinct(track.tags) if w not in feel or k != "adj"]
    if not rendered:
        return None
    chosen = rendered[: min(len(rendered), picker.count(2, 4))]
    adjs = [w for k, w in chosen if k == "adj"]
    nouns = [w for k, w in chosen if k == "noun"]
    eras = [w for k, w in chosen if k == "era"]
    era = f", with {_article(eras[0])} {eras[0]} feel" if eras else ""
    if adjs:
        adj = ", ".join(adjs)
        with_ = f" with {_join(nouns)}" if nouns else ""
        return picker.pick(_CHARACTER).format(
            a=_article(adj), adj=adj, piece=picker.pick(_PIECE), with_=with_, era=era
        )
    if nouns:
        return picker.pick(_CHARACTER_NOUNS).format(nouns=_join(nouns), era=era)
    return f"It has {_article(eras[0])} {eras[0]} feel."


def _fit(facts: ExplanationFacts, picker: _Picker) -> str:
    track = facts.track
    video = _video_phrase(facts.video)
    tempo = next((w for w in feel_words(track) if w in {"slow", "moderate", "fast"}), None)
    loud = next((w for w in feel_words(track) if w in {"quiet", "loud"}), None)
    if tempo and track.bpm:
        loud_text = {"quiet": ", and it stays quiet", "loud": ", and it plays loud"}.get(loud, "")
        return picker.pick(_FIT_TEMPO).format(
            feel=tempo, bpm=f"{track.bpm:.0f}", loud=loud_text, video=video
        )
    sentence = picker.pick(_FIT_PLAIN).format(video=video)
    if loud:
        sentence = f"Its {loud} sound " + sentence[3:]
    return sentence


def _request(facts: ExplanationFacts, picker: _Picker) -> str | None:
    if not facts.request:
        return None
    request = _request_phrase(facts.request)
    if facts.matched:
        return picker.pick(_REQUEST).format(request=request, matched=_join(facts.matched))
    return picker.pick(_REQUEST_NONE).format(request=request)


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
    mine, theirs = _distinct(track.tags), _distinct(prev.tags)
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


def template_text(facts: ExplanationFacts) -> str:
    picker = _Picker(facts)
    track = facts.track
    by = f" by {track.artist}" if track.artist else ""
    opening = _OPEN_FIRST if facts.rank <= 1 else _OPEN_OTHER
    sentences = [picker.pick(opening).format(title=track.title, by=by, rank=facts.rank)]
    for part in (
        _character(track, picker),
        _fit(facts, picker),
        _request(facts, picker),
        _difference(facts, picker),
    ):
        if part:
            sentences.append(part[0].upper() + part[1:])
    return " ".join(sentences)


class TemplateExplainer(Explainer):
    """Deterministic text from the facts; streamed word by word like an LLM."""

    @property
    def id(self) -> str:
        return "template"

    def stream(self, facts: ExplanationFacts) -> Iterator[str]:
        yield from re.findall(r"\S+\s*", template_text(facts))

    def explain(self, facts: ExplanationFacts) -> str:
        return template_text(facts)
