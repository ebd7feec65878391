"""A small rule-based reader for what a user types in a refinement turn.

Sentence embeddings get some words wrong: "no vocals" lands next to "vocals", "faster"
has no notion of the current track's tempo, names and durations are not semantics. So
before anything is embedded, these are read explicitly into typed requests:

- each constraint kind reads its own patterns (engine/constraints/: tempo, duration,
  loudness, key and mode, the video's use, "that artist");
- the clause reader here reads what needs the polarity of the words before it: concepts
  ("piano" / "more strings" want, "less electronic" / "not so sad" less, "no vocals" /
  "without drums" / "drumless" exclude), artist names ("like Scott Joplin", "only Bach")
  and references to the last list ("more like #3", "not #2", "bring back #2");
- "something different", "start over", "show the rejected ones again";
- what is left of a clause, when a word map is given (engine/word_map.py), is read as
  open words ("romantic", "tense") mapped to catalog tags and moods.

What is left after the understood negative, numeric and reference parts are cut out is
the query text that goes to the text encoder. Nothing here knows about the catalog
beyond the artist and title names it is given.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from musechat_tui.engine.constraints import KINDS
from musechat_tui.engine.constraints.artist import ArtistRequest
from musechat_tui.engine.constraints.base import Part
from musechat_tui.engine.constraints.concept import ConceptRequest, Polarity, add_concept
from musechat_tui.engine.constraints.duration import DurationRequest
from musechat_tui.engine.constraints.tempo import TempoRequest
from musechat_tui.engine.constraints.words import cut
from musechat_tui.engine.vocabulary import CONCEPTS
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.word_map import WordMap


@dataclass(frozen=True)
class ReferenceRequest:
    """A track of the last list by rank (1-based; -1 = the last one), or by title."""

    action: Literal["anchor", "reject", "restore", "accept"]
    rank: int | None = None
    track_id: int | None = None

    def label(self) -> str:
        return (
            f"{self.action} #{self.rank}" if self.rank else f"{self.action} track {self.track_id}"
        )


P = TypeVar("P", bound=Part)
_KIND_ORDER = {k.name: i for i, k in enumerate(KINDS)}


@dataclass
class Request:
    text: str
    query_text: str | None = None  # what is left for the text encoder
    parts: list[Part] = field(default_factory=list)  # what the constraint kinds read
    references: list[ReferenceRequest] = field(default_factory=list)
    different: bool = False  # "something different": away from the anchor
    reset: bool = False  # "start over": forget earlier filters
    restore_all: bool = False  # "show rejected ones again"
    extra_query: list[str] = field(default_factory=list)  # words a reader adds (a use's moods)

    def add(self, part: Part) -> None:
        if part.single:
            self.parts = [p for p in self.parts if p.kind != part.kind]
        self.parts.append(part)

    def parts_of(self, cls: type[P]) -> list[P]:
        return [p for p in self.parts if isinstance(p, cls)]

    def part(self, cls: type[P]) -> P | None:
        found = self.parts_of(cls)
        return found[0] if found else None

    @property
    def concepts(self) -> list[ConceptRequest]:
        return self.parts_of(ConceptRequest)

    @property
    def tempo(self) -> TempoRequest | None:
        return self.part(TempoRequest)

    @property
    def duration(self) -> DurationRequest | None:
        return self.part(DurationRequest)

    @property
    def artists(self) -> list[ArtistRequest]:
        return self.parts_of(ArtistRequest)

    @property
    def understood(self) -> list[str]:
        """What the rules read, in words (for notes and logs): each part by its kind."""
        parts = sorted(self.parts, key=lambda p: _KIND_ORDER[p.kind])
        out = [p.label() for p in parts] + [r.label() for r in self.references]
        if self.different:
            out.append("something different")
        if self.reset:
            out.append("start over")
        if self.restore_all:
            out.append("restore rejected")
        return out


# ---------------------------------------------------------------------- patterns
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

_RESET = lazy_pattern(
    r"\b(start (?:over|again|from scratch|afresh)|reset(?: everything)?|from scratch|"
    r"forget (?:it|that|everything|the filters))\b"
)
_DIFFERENT = lazy_pattern(
    r"\b(?:(?:something|anything) (?:completely |totally |very |quite |really )?"
    r"(?:different|else)|change it up|nothing like (?:this|that|it))\b"
)
_RESTORE_ALL = lazy_pattern(
    r"\b(?:bring back|show|restore|include) (?:the |all )*(?:(?:rejected|removed|dropped)"
    r"(?: ones| tracks)?|(?:ones|tracks) (?:i |we )?(?:rejected|removed|dropped))"
)

_REF = lazy_pattern(
    r"(?:#\s*(\d+)|\b(?:number|no\.|option|nr\.?)\s*(\d+)\b|"
    r"\b(?:the\s+)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)"
    r"(?:\s+(?:one|track|song|piece|pick|suggestion))?\b|\bthe\s+(\d+)(?:st|nd|rd|th)\s+"
    r"(?:one|track|song|piece)\b)"
)
# A verdict after one or more references: "#2 is boring", "#1 and #5 are both off".
_VERDICT = (
    r"^(?:\s*(?:&|,)\s*(?:#\s*\d+|number \d+))*\s*(?:is|was|are|were|sounds?|felt|feels?|"
    r"seems?)\s+(?:both\s+|all\s+|just\s+|really\s+|a bit\s+)?"
)
_REF_BAD_AFTER = lazy_pattern(
    _VERDICT + r"(?:bad|awful|terrible|boring|wrong|annoying|off|meh|cheesy|rubbish|"
    r"not (?:it|good|right|great|for me)|no good|too \w+)"
)
_REF_GOOD_AFTER = lazy_pattern(
    _VERDICT + r"(?:great|perfect|good|nice|lovely|excellent|amazing|brilliant|spot on|"
    r"a keeper|my fav(?:ou?rite)?|the one)"
)
_REF_PAIR = lazy_pattern(r"(#\s*\d+|number \d+)\s+and\s+(?=#\s*\d+|number \d+)")
_RESTORE_CUE = lazy_pattern(r"\b(?:bring back|restore|undo|un-?reject|again|back)\b")
_ACCEPT_CUE = lazy_pattern(r"\b(?:love|perfect|great|keep|accept|take)\b")

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
    "hold the",
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


_CUE = lazy_pattern(
    rf"\b(?:(?P<less>{_alternation(_LESS_CUES)})|(?P<exclude>{_alternation(_EXCLUDE_CUES)})|"
    rf"(?P<more>{_alternation(_MORE_CUES)})|(?P<want>{_alternation(_WANT_CUES)}))\b"
)
_LIKE = lazy_pattern(rf"\b(?:{_alternation(_LIKE_CUES)})\s*$")
_ONLY = lazy_pattern(rf"\b(?:{_alternation(_ONLY_CUES)})\s*$")
_FREE = lazy_pattern(r"\b([a-z]+?)(?:[- ]free|-?less)\b")  # "drum-free", "drumless", "vocal-less"

_CONCEPT_WORDS: list[tuple[str, str]] = sorted(
    ((w, c.name) for c in CONCEPTS for w in c.words), key=lambda x: -len(x[0])
)
_CONCEPT_RE = lazy_pattern(r"\b(" + "|".join(re.escape(w) for w, _ in _CONCEPT_WORDS) + r")\b")
_WORD_TO_CONCEPT = dict(_CONCEPT_WORDS)

_CLAUSE_SPLIT = lazy_pattern(r"[,;.!?]+|\s+(?:but|though|however|whereas|while|and|also|then)\s+")
_FILLER = lazy_pattern(
    r"\b(?:please|pls|can|could|would|you|i|i'd|i'm|me|my|give|find|show|play|want|wanna|"
    r"need|something|some|anything|a|an|the|one|track|tracks|song|songs|music|piece|more|"
    r"like|this|that|it|is|with|and|but|maybe|bit|little|kind|of|sort|try|let's|lets|"
    r"instead|rather|same|similar|to|just|only|really|very|too|so|again|now|ok|okay|love|"
    r"great|perfect|nice|good|bring|back|restore|keep|go|for|any|is|are|was|be|of|in|on)\b"
)


def name_key(text: str) -> str:
    """Names compared as plain words: "J. S. Bach" and "j s bach" are one key, and so are
    "Frédéric" and "Frederic"."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9']+", plain))


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


def parse_request(
    text: str, names: NameBook | None = None, words: WordMap | None = None
) -> Request:
    """Read `text` into a Request. Never fails: unknown words go to the query text.
    `words`: map what no rule reads to catalog tags and moods (open words)."""
    names = names or NameBook()
    t = _correct_typos(_normalise(text), names)
    req = Request(text=text)
    req.reset = bool(_RESET.search(t))
    t = _RESET.sub(" ", t)
    if m := _DIFFERENT.search(t):
        req.different = True
        t = cut(t, [m.span()])
    if m := _RESTORE_ALL.search(t):
        req.restore_all = True
        t = cut(t, [m.span()])
    for kind in KINDS:
        t = kind.read(t, req)

    t, placed = _protect_names(t, names)
    t = _REF_PAIR.sub(lambda m: m.group(1) + " & ", t)  # "#2 and #3": one clause, one verdict
    read = [_read_clause(clause, req, placed) for clause in _clauses(t)]
    if words is not None:
        unread = [_plain(_CHAT.sub(" ", _FILLER.sub(" ", rest))) for _, rest in read]
        for part in words.read([u for u in unread if _CONTENT.search(u)]):
            req.add(part)
    query = _plain(" ".join([*(_FILLER.sub(" ", q) for q, _ in read), *req.extra_query]))
    req.query_text = query if _CONTENT.search(query) else None
    return req


_CONTENT = lazy_pattern(r"[a-z][a-z-]{2,}")  # a word of three letters or more ("lo-fi")
# Words of talk, never open words ("ok thanks", "hmm, not sure yet", "#3 is my favourite").
_CHAT = lazy_pattern(
    r"(?:'(?:s|m|ll|d|re|ve)\b)|\b(?:thanks?|thx|cheers|hmm+|um+|uh+|er+m?|sure|yet|think|"
    r"about|tbh|kinda|sorta|pretty|quite|actually|honestly|absolutely|definitely|totally|"
    r"yeah|yes|yep|nope|needs?|has|have|had|few|everything|stuff|things?|style|sounds?|"
    r"vibes?|feel|feeling|flavou?r|fav(?:ou?rite)?|keeper|close|closer|these|those|them|they|"
    r"work|works|we|us|our|doing|over|top|there|whole|time|both|off|all|other|else|do|does|"
    r"did|am|will|should|get|got|make|way|lot|here|what|which|who|how|why|when|where|if|"
    r"then|than|as|at|by|from|up|down|out|or|not|no|also|still|even|much|many|ones|fit|"
    r"fits|better|best|mood|tone|type|mix|let|start|reset|video|videos|clip|footage|key|"
    r"keys|edit|maybe|probably|perhaps|bit|lots|i'll|it's|that's|there's|i've|don't|won't)\b"
)


def _plain(text: str) -> str:
    text = re.sub(r"[^\w\s'&-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_PLACEHOLDER = lazy_pattern(r"§(\d+)§+")


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


def _read_clause(clause: str, req: Request, placed: list[tuple[str, str | int]]) -> tuple[str, str]:
    """Concepts, names and references of one clause, each with the polarity of the cue
    before it; returns the clause's words for the query text (negated parts cut), and
    what no rule read (the concept words cut too): the candidates for open words."""
    spans: list[tuple[int, int]] = []
    read: list[tuple[int, int]] = []  # concept words: in the query, but understood

    for m in _FREE.finditer(clause):  # "drum-free"
        concept = _WORD_TO_CONCEPT.get(m.group(1))
        if concept:
            add_concept(req, concept, "exclude")
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
    neg_end = 0  # where the last negating cue ended
    for i, (start, end, kind, value) in enumerate(events):
        if kind == "cue":
            if value == "exclude":
                polarity, strength = "exclude", 1.0
            elif value == "less":
                polarity, strength = "less", 1.0
            elif value == "more":
                polarity, strength = "want", 1.5
            elif polarity != "want" and (
                not _concept_follows(events, i) or _NEAR_NEGATION.fullmatch(clause[neg_end:start])
            ):
                # "no drums and piano": "and" alone does not flip the scope, and neither
                # does "with" just after the negation ("nothing with singing")
                continue
            else:
                polarity, strength = "want", 1.0
            if polarity != "want":
                neg_end = end
            if polarity != "want" and cut_from is None:
                cut_from = start
            elif polarity == "want" and cut_from is not None:
                spans.append((cut_from, start))
                cut_from = None
            spans.append((start, end))
        elif kind == "concept":
            add_concept(req, _WORD_TO_CONCEPT[value], polarity, strength)
            read.append((start, end))
        elif kind == "artist":
            name = str(placed[int(value)][1])
            before = clause[:start]
            mode = (
                "exclude" if polarity == "exclude" else "only" if _ONLY.search(before) else "like"
            )
            req.add(ArtistRequest(name, mode))
            spans.append((start, end))
        elif kind == "title":  # "like <title>"
            req.references.append(ReferenceRequest("anchor", track_id=int(placed[int(value)][1])))
            spans.append((start, end))
        elif kind == "ref":
            req.references.append(_reference(value, clause, start, end, polarity))
            spans.append((start, end))
    if cut_from is not None:
        spans.append((cut_from, len(clause)))
    query = cut(clause, spans)
    return query, cut(query, read)


_NEAR_NEGATION = lazy_pattern(r"\s*(?:(?:anything|something|any|stuff|music|tracks?|songs?)\s+)?")


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
