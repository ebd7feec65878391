"""A small rule-based reader for what a user types in a refinement turn.

Sentence embeddings get some words wrong: "no vocals" lands next to "vocals", "faster"
has no notion of the current track's tempo, names and durations are not semantics. So
before anything is embedded, these are read explicitly into typed requests:

- concepts with a polarity: "piano" / "more strings" (want), "less electronic" /
  "not so sad" (less: a penalty), "no vocals" / "without drums" (exclude: a filter);
- tempo: "faster", "a bit slower", "around 120 bpm", "under 100 bpm", "same tempo";
- duration: "at least as long as my video", "under 3 minutes", "shorter";
- loudness: "quieter", "louder";
- names: "like Scott Joplin", "only Bach", "not that artist", "same artist";
- references to the last list: "more like #3", "not #2", "bring back #2", "the second one";
- "something different", "start over".

What is left after the understood negative, numeric and reference parts are cut out is
the query text that goes to the text encoder. Nothing here knows about the catalog
beyond the artist and title names it is given.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from musechat_tui.engine.vocabulary import CONCEPTS, CONCEPTS_BY_NAME, IMPLIED_BY_EXCLUSION

Polarity = Literal["want", "less", "exclude"]


@dataclass(frozen=True)
class ConceptRequest:
    concept: str  # a vocabulary.CONCEPTS name
    polarity: Polarity
    strength: float = 1.0  # "more piano" 1.5


@dataclass(frozen=True)
class Bound:
    """A bound in seconds: a number, or a multiple of the video's / the anchor's length."""

    seconds: float | None = None
    ref: Literal["video", "anchor"] | None = None
    factor: float = 1.0


@dataclass(frozen=True)
class TempoRequest:
    kind: Literal["faster", "slower", "same", "range"]
    low: float | None = None  # bpm, for "range"
    high: float | None = None
    amount: float = 1.0  # "a bit faster" 0.5, "much faster" 2


@dataclass(frozen=True)
class DurationRequest:
    low: Bound | None = None
    high: Bound | None = None


@dataclass(frozen=True)
class LoudnessRequest:
    kind: Literal["quieter", "louder"]


@dataclass(frozen=True)
class ArtistRequest:
    name: str | None  # catalog spelling; None: the anchor track's artist ("that artist")
    mode: Literal["only", "like", "exclude"]


@dataclass(frozen=True)
class ReferenceRequest:
    """A track of the last list by rank (1-based; -1 = the last one), or by title."""

    action: Literal["anchor", "reject", "restore", "accept"]
    rank: int | None = None
    track_id: int | None = None


@dataclass
class Request:
    text: str
    query_text: str | None = None  # what is left for the text encoder
    concepts: list[ConceptRequest] = field(default_factory=list)
    tempo: TempoRequest | None = None
    duration: DurationRequest | None = None
    loudness: LoudnessRequest | None = None
    artists: list[ArtistRequest] = field(default_factory=list)
    references: list[ReferenceRequest] = field(default_factory=list)
    different: bool = False  # "something different": away from the anchor
    reset: bool = False  # "start over": forget earlier filters
    restore_all: bool = False  # "show rejected ones again"

    @property
    def understood(self) -> list[str]:
        """What the rules read, in words (for notes and logs)."""
        out = [f"{_POLARITY_WORD[c.polarity]}{c.concept}" for c in self.concepts]
        if self.tempo:
            t = self.tempo
            if t.kind != "range":
                out.append(t.kind)
            elif t.low is not None and t.high is not None:
                out.append(f"{t.low:.0f}-{t.high:.0f} bpm")
            else:
                out.append(f"<= {t.high:.0f} bpm" if t.high is not None else f">= {t.low:.0f} bpm")
        if self.duration:
            out.append("duration " + _bounds_text(self.duration))
        if self.loudness:
            out.append(self.loudness.kind)
        out += [f"{a.mode} {a.name or 'that artist'}" for a in self.artists]
        out += [
            f"{r.action} #{r.rank}" if r.rank else f"{r.action} track {r.track_id}"
            for r in self.references
        ]
        if self.different:
            out.append("something different")
        if self.reset:
            out.append("start over")
        if self.restore_all:
            out.append("restore rejected")
        return out


_POLARITY_WORD = {"want": "", "less": "less ", "exclude": "no "}


def _bounds_text(d: DurationRequest) -> str:
    def b(x: Bound) -> str:
        if x.seconds is not None:
            return f"{x.seconds:.0f} s"
        what = "the video" if x.ref == "video" else "this track"
        return what if x.factor == 1 else f"{x.factor:g}x {what}"

    parts = ([f">= {b(d.low)}"] if d.low else []) + ([f"<= {b(d.high)}"] if d.high else [])
    return " and ".join(parts)


# ---------------------------------------------------------------------- patterns
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a": 1,
    "an": 1,
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "last": -1,
}

# Number words must be whole words: "as" is not "a" + "s(econds)".
_NUM = r"(\d+(?:\.\d+)?|(?:one|two|three|four|five|six|seven|eight|nine|ten|an?)(?=\s))"
_UNIT = r"(minutes?|mins?|m|seconds?|secs?|s)\b"
_DUR = rf"(?:{_NUM}\s*{_UNIT}|(\d+):(\d\d)\b)"
_VIDEO = (
    r"(?:my|the|this|our|that)\s+(?:whole\s+|entire\s+|full\s+)?(?:video|clip|footage|film|movie)"
)
_BPM = r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute|beats a minute)\b"
_MAX_WORDS = (
    r"(?:under|below|less than|shorter than|slower than|at most|no more than|no longer than|"
    r"not longer than|not more than|no faster than|max(?:imum)?|within|up to)"
)
_MIN_WORDS = (
    r"(?:over|above|more than|longer than|faster than|at least|no less than|no shorter than|"
    r"no slower than|min(?:imum)?)"
)
_AROUND = r"(?:around|about|roughly|approximately|near|close to|~)"


def _dur_seconds(m: re.Match[str], start: int) -> float:
    """Seconds from a _DUR match whose groups begin at `start`."""
    num, unit, mins, secs = m.group(start, start + 1, start + 2, start + 3)
    if mins is not None:
        return int(mins) * 60 + int(secs)
    value = _NUMBER_WORDS[num] if num in _NUMBER_WORDS else float(num)
    return value * 60 if unit.startswith("m") else value


_RESET = re.compile(
    r"\b(start (?:over|again)|reset|from scratch|forget (?:it|that|everything|the filters))\b"
)
_DIFFERENT = re.compile(
    r"\b(?:(?:something|anything) (?:completely |totally |very |quite |really )?"
    r"(?:different|else)|change it up|nothing like (?:this|that|it))\b"
)
_RESTORE_ALL = re.compile(
    r"\b(?:bring back|show|restore|include) (?:the |all )*(?:rejected|removed|dropped)"
    r"(?: ones| tracks)?"
)

_DURATION_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\bbetween\s+{_DUR}\s+and\s+{_DUR}"), "between"),
    (re.compile(rf"\bbetween\s+(\d+(?:\.\d+)?)\s+and\s+{_DUR}"), "between_shared"),
    (re.compile(rf"\b{_MAX_WORDS}\s+(?:about\s+)?{_DUR}"), "max"),
    (re.compile(rf"\b{_MIN_WORDS}\s+(?:about\s+)?{_DUR}"), "min"),
    (re.compile(rf"\b{_AROUND}\s*{_DUR}\s*(?:long)?"), "around"),
    (
        re.compile(
            r"\b(?:at least as long as|as long as|longer than|long enough (?:for|to cover)|"
            r"(?:that |which |to )?(?:covers?|lasts?|fills?)(?: for)?(?: the length of)?)"
            rf"\s+{_VIDEO}"
        ),
        "min_video",
    ),
    (
        re.compile(
            r"\b(?:shorter than|no longer than|not longer than|fits? (?:in|into|within))"
            rf"\s+{_VIDEO}"
        ),
        "max_video",
    ),
    (re.compile(r"\b(?:too short|(?:a |something )?longer(?: one| track| piece)?)\b"), "longer"),
    (re.compile(r"\b(?:too long|(?:a |something )?shorter(?: one| track| piece)?)\b"), "shorter"),
]

_TEMPO_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\bbetween\s+(\d{{2,3}})\s+and\s+{_BPM}"), "between"),
    (re.compile(rf"\b(\d{{2,3}})\s*(?:-|–|to)\s*{_BPM}"), "between"),
    (re.compile(rf"\b{_MAX_WORDS}\s+(?:about\s+)?{_BPM}"), "max"),
    (re.compile(rf"\b{_MIN_WORDS}\s+(?:about\s+)?{_BPM}"), "min"),
    (re.compile(rf"(?:\b{_AROUND}\s*)?{_BPM}"), "around"),
    (re.compile(r"\b(?:same|similar) (?:tempo|speed|pace|bpm)\b"), "same"),
    (
        re.compile(
            r"\b(?:(a (?:little |tiny )?bit |slightly |a little |a tad |somewhat )|"
            r"(much |way |a lot |far |even |lots |considerably ))?"
            r"(?:faster|quicker|speedier|higher tempo|more tempo)\b"
            r"|\b(?:speed (?:it|things) up|pick up the pace|too slow|not fast enough)\b"
        ),
        "faster",
    ),
    (
        re.compile(
            r"\b(?:(a (?:little |tiny )?bit |slightly |a little |a tad |somewhat )|"
            r"(much |way |a lot |far |even |lots |considerably ))?"
            r"(?:slower|lower tempo|less tempo)\b"
            r"|\b(?:slow (?:it|things) down|too fast|not so fast|less fast|not too fast)\b"
        ),
        "slower",
    ),
]

_LOUDNESS_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:quieter|softer|less loud|not so loud|not too loud|too loud|turn it down|"
            r"lower volume|more quiet)\b"
        ),
        "quieter",
    ),
    (
        re.compile(r"\b(?:louder|too quiet|too soft|turn it up|more volume|not loud enough)\b"),
        "louder",
    ),
]

_ANCHOR_ARTIST_EXCLUDE = re.compile(
    r"\b(?:not (?:that|this|the same) (?:artist|composer|band|musician|one's artist)|"
    r"(?:a |another |other |different )(?:artist|composer|band|musician)s?|someone else|"
    r"somebody else|not by (?:them|him|her)|other than (?:them|him|her))\b"
)
_ANCHOR_ARTIST_ONLY = re.compile(
    r"\b(?:(?:the )?same (?:artist|composer|band|musician)|more (?:by|from) "
    r"(?:them|him|her|this artist|that artist|this composer|that composer|this band|that band))\b"
)

_REF = re.compile(
    r"(?:#\s*(\d+)|\b(?:number|no\.|option|nr\.?)\s*(\d+)\b|"
    r"\b(?:the\s+)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)"
    r"(?:\s+(?:one|track|song|piece|pick|suggestion))?\b|\bthe\s+(\d+)(?:st|nd|rd|th)\s+"
    r"(?:one|track|song|piece)\b)"
)
_REF_BAD_AFTER = re.compile(
    r"^\s*(?:is|was|sounds|felt|seems)\s+(?:bad|awful|terrible|boring|wrong|annoying|"
    r"not (?:it|good|right)|too \w+)"
)
_REF_GOOD_AFTER = re.compile(
    r"^\s*(?:is|was|sounds|felt|seems)\s+(?:great|perfect|good|nice|lovely|excellent|close)"
)
_RESTORE_CUE = re.compile(r"\b(?:bring back|restore|undo|un-?reject|again|back)\b")
_ACCEPT_CUE = re.compile(r"\b(?:love|perfect|great|keep|accept|take)\b")

# Polarity cues. Longest first; order inside the tuple matters for the regex alternation.
_EXCLUDE_CUES = (
    "do not want",
    "don't want",
    "dont want",
    "do not like",
    "don't like",
    "dont like",
    "not a fan of",
    "get rid of",
    "anything but",
    "no more",
    "without",
    "w/o",
    "avoid",
    "skip",
    "drop",
    "remove",
    "ditch",
    "lose the",
    "cut out",
    "cut the",
    "except",
    "minus",
    "hate",
    "never",
    "none",
    "nothing",
    "not",
    "no",
)
_LESS_CUES = (
    "a bit less",
    "a little less",
    "not so much",
    "not so",
    "not too",
    "not as",
    "too much",
    "too many",
    "tone down",
    "lighter on",
    "reduce",
    "fewer",
    "less",
    "too",
)
_MORE_CUES = ("a lot more", "much more", "lots of", "more", "heavy on", "plenty of", "extra")
_WANT_CUES = ("with", "add", "some", "plus", "and", "but", "like", "include", "want")
_LIKE_CUES = ("similar to", "in the style of", "style of", "sounds like", "sound like", "like")
_ONLY_CUES = (
    "only",
    "just",
    "stick to",
    "stick with",
    "stay with",
    "more of",
    "more from",
    "by",
    "from",
)


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_CUE = re.compile(
    rf"\b(?:(?P<less>{_alternation(_LESS_CUES)})|(?P<exclude>{_alternation(_EXCLUDE_CUES)})|"
    rf"(?P<more>{_alternation(_MORE_CUES)})|(?P<want>{_alternation(_WANT_CUES)}))\b"
)
_LIKE = re.compile(rf"\b(?:{_alternation(_LIKE_CUES)})\s*$")
_ONLY = re.compile(rf"\b(?:{_alternation(_ONLY_CUES)})\s*$")
_FREE = re.compile(r"\b([a-z]+?)(?:[- ]free|-?less)\b")  # "drum-free", "drumless", "vocal-less"

_CONCEPT_WORDS: list[tuple[str, str]] = sorted(
    ((w, c.name) for c in CONCEPTS for w in c.words), key=lambda x: -len(x[0])
)
_CONCEPT_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w, _ in _CONCEPT_WORDS) + r")\b")
_WORD_TO_CONCEPT = dict(_CONCEPT_WORDS)

_CLAUSE_SPLIT = re.compile(r"[,;.!?]+|\s+(?:but|though|however|whereas|while|and|also|then)\s+")
_FILLER = re.compile(
    r"\b(?:please|pls|can|could|would|you|i|i'd|i'm|me|my|give|find|show|play|want|wanna|"
    r"need|something|some|anything|a|an|the|one|track|tracks|song|songs|music|piece|more|"
    r"like|this|that|it|is|with|and|but|maybe|bit|little|kind|of|sort|try|let's|lets|"
    r"instead|rather|same|similar|to|just|only|really|very|too|so|again|now|ok|okay|love|"
    r"great|perfect|nice|good|bring|back|restore|keep|go|for|any|is|are|was|be|of|in|on)\b"
)


def name_key(text: str) -> str:
    """Names compared as plain words: "J. S. Bach" and "j s bach" are one key."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


@dataclass
class NameBook:
    """Names the parser may recognise: artists (name_key alias -> catalog spelling) and
    track titles (name_key -> id). Found by word n-gram lookup, so a catalog of 100k
    titles costs the same per request as one of ten."""

    artists: dict[str, str] = field(default_factory=dict)
    titles: dict[str, int] = field(default_factory=dict)
    max_words: int = 1

    @classmethod
    def build(cls, artists: list[str], titles: dict[int, str]) -> NameBook:
        book = cls()
        last_names: dict[str, set[str]] = {}
        for name in artists:
            key = name_key(name or "")
            if not key:
                continue
            book.artists[key] = name
            for word in key.split():
                if len(word) >= 4 and word not in _WORD_TO_CONCEPT and not _FILLER.fullmatch(word):
                    last_names.setdefault(word, set()).add(name)
        for word, owners in last_names.items():
            if len(owners) == 1 and word not in book.artists:
                book.artists[word] = next(iter(owners))  # "Joplin", "Drascula"
        counts: dict[str, int] = {}
        for title in titles.values():
            counts[name_key(title or "")] = counts.get(name_key(title or ""), 0) + 1
        for tid, title in titles.items():
            key = name_key(title or "")
            generic = re.match(r"^(?:track|song|untitled|piece)\b", key)
            if counts.get(key) == 1 and len(key) >= 8 and " " in key and not generic:
                book.titles[key] = tid
        book.max_words = max((len(k.split()) for k in [*book.artists, *book.titles]), default=1)
        return book

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, "title" | "artist", key) of the names in `text`, longest first,
        not overlapping."""
        words = list(re.finditer(r"[a-z0-9']+", text))
        found: list[tuple[int, int, str, str]] = []
        i = 0
        while i < len(words):
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                key = " ".join(w.group() for w in words[i : i + n])
                kind = "title" if key in self.titles else "artist" if key in self.artists else ""
                if kind:
                    found.append((words[i].start(), words[i + n - 1].end(), kind, key))
                    i += n
                    break
            else:
                i += 1
        return found


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans blanked (same length, so later offsets stay valid)."""
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _normalise(text: str) -> str:
    t = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    t = re.sub(r"\bno\.\s*(\d)", r"number \1", t)  # "no. 2" must survive the clause split
    return re.sub(r"\s+", " ", t).strip()


# Typos: a word of five letters or more that is not a word the parser knows, one edit
# (optimal string alignment: a letter added, dropped, changed or two swapped) from exactly
# one that it does, with the same first letter, is read as that word. Shorter words are
# never guessed; a dropped letter ("slowr") is preferred over an extra one ("slow").
_TYPO_MIN_LEN = 5
_EXTRA_WORDS = ("slower", "faster", "quicker", "louder", "quieter", "softer", "tempo", "without")
_KNOWN_WORDS: frozenset[str] = frozenset(
    w for phrase, _ in _CONCEPT_WORDS for w in re.findall(r"[a-z]+", phrase)
) | frozenset(_EXTRA_WORDS)
_KNOWN_BY_INITIAL: dict[str, list[str]] = {}
for _w in sorted(_KNOWN_WORDS):
    if len(_w) >= _TYPO_MIN_LEN:  # a short word is too near too much ("maple" -> "male")
        _KNOWN_BY_INITIAL.setdefault(_w[0], []).append(_w)


# An English word is never "corrected" ("signing" is not "singing"): the system word
# list (Debian's wamerican, installed by scripts/install.sh) when there is one.
ENGLISH_WORDS_FILE = Path("/usr/share/dict/words")


@functools.cache
def _english_words() -> frozenset[str]:
    try:
        text = ENGLISH_WORDS_FILE.read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return frozenset()
    return frozenset(w.lower() for w in text.split() if w.isalpha())


def _correct_typo(word: str) -> str:
    if len(word) < _TYPO_MIN_LEN or word in _KNOWN_WORDS or word in _english_words():
        return word
    from rapidfuzz.distance import OSA

    close = [
        w
        for w in _KNOWN_BY_INITIAL.get(word[0], ())
        if abs(len(w) - len(word)) <= 1 and OSA.distance(word, w) == 1
    ]
    for grow in (1, 0, -1):  # a dropped letter first, then a wrong one, then an extra one
        group = [w for w in close if len(w) - len(word) == grow]
        if group:
            return group[0] if len(group) == 1 else word  # two equally near: no guess
    return word


def _correct_typos(t: str, names: NameBook) -> str:
    """`t` with typos corrected outside the catalog's names (a title stays as it is)."""
    spans = [(a, b) for a, b, _, _ in names.find(t)]

    def fix(m: re.Match[str]) -> str:
        return m.group(0) if _overlaps(m.span(), spans) else _correct_typo(m.group(0))

    return re.sub(r"[a-z]+", fix, t)


def parse_request(text: str, names: NameBook | None = None) -> Request:
    """Read `text` into a Request. Never fails: unknown words go to the query text."""
    names = names or NameBook()
    t = _correct_typos(_normalise(text), names)
    req = Request(text=text)
    req.reset = bool(_RESET.search(t))
    t = _RESET.sub(" ", t)
    if m := _DIFFERENT.search(t):
        req.different = True
        t = _cut(t, [m.span()])
    if m := _RESTORE_ALL.search(t):
        req.restore_all = True
        t = _cut(t, [m.span()])
    t = _read_duration(t, req)
    t = _read_tempo(t, req)
    t = _read_loudness(t, req)
    if m := _ANCHOR_ARTIST_EXCLUDE.search(t):
        req.artists.append(ArtistRequest(None, "exclude"))
        t = _cut(t, [m.span()])
    elif m := _ANCHOR_ARTIST_ONLY.search(t):
        req.artists.append(ArtistRequest(None, "only"))
        t = _cut(t, [m.span()])

    t, placed = _protect_names(t, names)
    kept: list[str] = []
    for clause in _clauses(t):
        kept.append(_read_clause(clause, req, placed))
    query = _FILLER.sub(" ", " ".join(kept))
    query = re.sub(r"[^\w\s'&-]", " ", query)
    query = re.sub(r"\s+", " ", query).strip()
    req.query_text = query if re.search(r"[a-z]{3,}", query) else None
    return req


_PLACEHOLDER = re.compile(r"§(\d+)§+")


def _protect_names(t: str, names: NameBook) -> tuple[str, list[tuple[str, str | int]]]:
    """Names replaced by same-length placeholders ("§3§§§§"), so that their words are
    neither cues, concepts nor clause breaks ("J. S. Bach", "No Surprises"). A title only
    counts after "like" / "similar to" in its clause; otherwise its words are read as
    words. Returns the text and the names as ("artist", spelling) / ("title", id)."""
    placed: list[tuple[str, str | int]] = []
    chars = list(t)
    for start, end, kind, key in names.find(t):
        if kind == "title":
            clause = _CLAUSE_SPLIT.split(t[:start])[-1]
            if not _LIKE.search(clause):
                artist = names.artists.get(key)
                if artist is None:
                    continue
                kind = "artist"
        mark = f"§{len(placed)}§"
        if len(mark) > end - start:
            continue  # too short to hold a placeholder: leave the words be
        chars[start:end] = mark + "§" * (end - start - len(mark))
        placed.append(
            ("title", names.titles[key]) if kind == "title" else ("artist", names.artists[key])
        )
    return "".join(chars), placed


def _clauses(t: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT.split(t) if c and c.strip()]


def _read_duration(t: str, req: Request) -> str:
    low: Bound | None = None
    high: Bound | None = None
    spans: list[tuple[int, int]] = []
    for rx, kind in _DURATION_RULES:
        for m in rx.finditer(t):
            if any(a < m.end() and m.start() < b for a, b in spans):
                continue
            spans.append(m.span())
            if kind == "between":
                low, high = Bound(_dur_seconds(m, 1)), Bound(_dur_seconds(m, 5))
            elif kind == "between_shared":  # "between 2 and 3 minutes": one unit for both
                high = Bound(_dur_seconds(m, 2))
                scale = 60.0 if (m.group(3) or "s").startswith("m") else 1.0
                low = Bound(float(m.group(1)) * scale)
            elif kind == "max":
                high = Bound(_dur_seconds(m, 1))
            elif kind == "min":
                low = Bound(_dur_seconds(m, 1))
            elif kind == "around":
                s = _dur_seconds(m, 1)
                low, high = Bound(s * 0.8), Bound(s * 1.2)
            elif kind == "min_video":
                low = Bound(ref="video")
            elif kind == "max_video":
                high = Bound(ref="video")
            elif kind == "longer":
                low = Bound(ref="anchor", factor=1.15)
            elif kind == "shorter":
                high = Bound(ref="anchor", factor=0.85)
    if low or high:
        req.duration = DurationRequest(low, high)
    return _cut(t, spans)


def _read_tempo(t: str, req: Request) -> str:
    for rx, kind in _TEMPO_RULES:
        m = rx.search(t)
        if not m:
            continue
        if kind == "between":
            a, b = sorted((float(m.group(1)), float(m.group(2))))
            req.tempo = TempoRequest("range", a, b)
        elif kind == "max":
            req.tempo = TempoRequest("range", None, float(m.group(1)))
        elif kind == "min":
            req.tempo = TempoRequest("range", float(m.group(1)), None)
        elif kind == "around":
            bpm = float(m.group(1))
            req.tempo = TempoRequest("range", bpm * 0.92, bpm * 1.08)
        elif kind == "same":
            req.tempo = TempoRequest("same")
        else:
            amount = 0.5 if m.group(1) else 2.0 if m.group(2) else 1.0
            req.tempo = TempoRequest(kind, amount=amount)  # type: ignore[arg-type]
        return _cut(t, [m.span()])
    return t


def _read_loudness(t: str, req: Request) -> str:
    for rx, kind in _LOUDNESS_RULES:
        if m := rx.search(t):
            req.loudness = LoudnessRequest(kind)  # type: ignore[arg-type]
            return _cut(t, [m.span()])
    return t


def _read_clause(clause: str, req: Request, placed: list[tuple[str, str | int]]) -> str:
    """Concepts, names and references of one clause, each with the polarity of the cue
    before it; returns the clause's words for the query text (negated parts cut)."""
    spans: list[tuple[int, int]] = []

    for m in _FREE.finditer(clause):  # "drum-free"
        concept = _WORD_TO_CONCEPT.get(m.group(1))
        if concept:
            _add_concept(req, concept, "exclude")
            spans.append(m.span())

    # Events in order of position: cues, references, names, concepts.
    events: list[tuple[int, int, str, str]] = []
    for m in _CUE.finditer(clause):
        kind = next(k for k in ("less", "exclude", "more", "want") if m.group(k))
        events.append((m.start(), m.end(), "cue", kind))
    for m in _REF.finditer(clause):
        events.append((m.start(), m.end(), "ref", m.group(0)))
    taken: list[tuple[int, int]] = []
    for m in _PLACEHOLDER.finditer(clause):
        kind, _value = placed[int(m.group(1))]
        events.append((m.start(), m.end(), kind, m.group(1)))
        taken.append(m.span())
    for m in _CONCEPT_RE.finditer(clause):
        if not _overlaps(m.span(), taken) and not _overlaps(m.span(), spans):
            events.append((m.start(), m.end(), "concept", m.group(1)))
    # A cue word inside a name or a reference ("no" of "no. 2") is not a cue.
    named = taken + [(e[0], e[1]) for e in events if e[2] == "ref"]
    events = [e for e in events if e[2] != "cue" or not _overlaps((e[0], e[1]), named)]
    events.sort(key=lambda e: (e[0], -e[1]))

    polarity: Polarity = "want"
    strength = 1.0
    cut_from: int | None = None  # negated scope: cut from the cue to the clause end
    for i, (start, end, kind, value) in enumerate(events):
        if kind == "cue":
            if value == "exclude":
                polarity, strength = "exclude", 1.0
            elif value == "less":
                polarity, strength = "less", 1.0
            elif value == "more":
                polarity, strength = "want", 1.5
            elif polarity != "want" and not _concept_follows(events, i):
                continue  # "no drums and piano": "and" alone does not flip the scope
            else:
                polarity, strength = "want", 1.0
            if polarity != "want" and cut_from is None:
                cut_from = start
            elif polarity == "want" and cut_from is not None:
                spans.append((cut_from, start))
                cut_from = None
            spans.append((start, end))
        elif kind == "concept":
            _add_concept(req, _WORD_TO_CONCEPT[value], polarity, strength)
        elif kind == "artist":
            name = str(placed[int(value)][1])
            before = clause[:start]
            mode = (
                "exclude" if polarity == "exclude" else "only" if _ONLY.search(before) else "like"
            )
            req.artists.append(ArtistRequest(name, mode))
            spans.append((start, end))
        elif kind == "title":  # "like <title>"
            req.references.append(ReferenceRequest("anchor", track_id=int(placed[int(value)][1])))
            spans.append((start, end))
        elif kind == "ref":
            req.references.append(_reference(value, clause, start, end, polarity))
            spans.append((start, end))
    if cut_from is not None:
        spans.append((cut_from, len(clause)))
    return _cut(clause, spans)


def _concept_follows(events: list[tuple[int, int, str, str]], i: int) -> bool:
    """Whether a want cue at i is followed by something it could apply to."""
    return any(e[2] in ("concept", "artist", "ref", "title") for e in events[i + 1 : i + 2])


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(a < span[1] and span[0] < b for a, b in spans)


def _reference(
    token: str, clause: str, start: int, end: int, polarity: Polarity
) -> ReferenceRequest:
    m = _REF.fullmatch(token)
    assert m is not None
    digits = m.group(1) or m.group(2) or m.group(4)
    rank = int(digits) if digits else _ORDINALS[m.group(3)]
    after = clause[end:]
    before = clause[:start]
    if _RESTORE_CUE.search(before) or re.match(r"^\s*(?:again|back)\b", after):
        return ReferenceRequest("restore", rank=rank)
    if polarity == "exclude" or _REF_BAD_AFTER.match(after):
        return ReferenceRequest("reject", rank=rank)
    if _REF_GOOD_AFTER.match(after) or _ACCEPT_CUE.search(before):
        return ReferenceRequest("accept", rank=rank)
    return ReferenceRequest("anchor", rank=rank)


def _add_concept(req: Request, concept: str, polarity: Polarity, strength: float = 1.0) -> None:
    assert concept in CONCEPTS_BY_NAME
    # The last word on a concept wins ("no drums ... ok some drums").
    req.concepts = [c for c in req.concepts if c.concept != concept]
    req.concepts.append(ConceptRequest(concept, polarity, strength))
    implied = IMPLIED_BY_EXCLUSION.get(concept)
    if polarity == "exclude" and implied and all(c.concept != implied for c in req.concepts):
        req.concepts.append(ConceptRequest(implied, "want"))
