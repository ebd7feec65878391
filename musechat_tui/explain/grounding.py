"""Grounding: hold an explanation against its facts.

An explanation fails when it
- names another track's title or artist (the caller passes the other recommendations; the
  previous track is added from the facts), or quotes a title that is not this track's;
- claims a tag from the known tag vocabularies (MTT + MSD) that the track does not have.

What counts as "having" a tag is generous where the facts support it: a tag implies its
obvious relatives ('female vocal' supports 'vocals', 'no vocals' supports 'instrumental'),
tempo and loudness give 'slow'/'fast'/'quiet'/'loud', and words the facts themselves use
(the video description, the user's request, the matched terms, the track's own title) may
be repeated. A negated mention ('no drums', 'without vocals') is not a claim. Tags of the
previous track are allowed only in a sentence that compares ('unlike the previous pick').
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from musechat_tui.analysis import loudness_word, tempo_word
from musechat_tui.config import REPO_DATA_DIR
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts

DEFAULT_TAGS_FILE = REPO_DATA_DIR / "musicnn" / "tags.json"

# A tag implies these words too (all normalised). Specific implies generic, never the reverse.
_VOCAL = ("vocal", "vocals", "voice", "singing", "singer", "vocalist", "vocalists")
_FEMALE = ("female", "woman", "female vocal", "female voice", "female vocalist")
_FEMALE += ("female vocalists", "female singer") + _VOCAL
_MALE = ("male", "man", "male vocal", "male voice", "male vocalist", "male vocalists")
_MALE += ("male singer",) + _VOCAL
_NO_VOCALS = ("no vocals", "no vocal", "no voice", "instrumental")
_IMPLIES: dict[str, tuple[str, ...]] = {
    **{t: _FEMALE for t in _FEMALE[:6]},
    **{t: _MALE for t in _MALE[:6]},
    **{t: _VOCAL for t in _VOCAL},
    "choir": ("choir", "choral") + _VOCAL,
    "choral": ("choir", "choral") + _VOCAL,
    "opera": ("opera",) + _VOCAL,
    **{t: _NO_VOCALS for t in _NO_VOCALS},
    "classical": ("classical", "classic"),
    "classic": ("classical", "classic"),
    "electronic": ("electronic", "electronica", "electro"),
    "electronica": ("electronic", "electronica", "electro"),
    "electro": ("electronic", "electronica", "electro"),
    "techno": ("techno", "electronic", "electronica", "electro", "dance", "beat", "beats"),
    "house": ("house", "electronic", "electronica", "electro", "dance", "beat", "beats"),
    "beat": ("beat", "beats"),
    "beats": ("beat", "beats"),
    "chill": ("chill", "chillout"),
    "chillout": ("chill", "chillout"),
    "alternative rock": ("alternative rock", "alternative", "rock"),
    "indie rock": ("indie rock", "indie", "rock"),
    "indie pop": ("indie pop", "indie", "pop"),
    "classic rock": ("classic rock", "rock"),
    "hard rock": ("hard rock", "rock"),
    "progressive rock": ("progressive rock", "rock"),
    "heavy metal": ("heavy metal", "metal"),
    "soft": ("soft", "quiet"),
    "quiet": ("soft", "quiet"),
}
# Words before a tag that make the mention a denial or a contrast, not a claim.
_NEGATIONS = frozenset(
    ("no", "not", "without", "non", "lacks", "lacking", "less", "fewer", "instead", "nor")
    + ("drops", "drop", "dropping", "avoid", "avoids", "never", "free", "leaves", "skips")
)
# A sentence with one of these compares with the previous pick and may name its tags.
_COMPARE = re.compile(
    r"\b(previous|last|earlier|before|unlike|compared|than|instead|whereas|former)\b"
)
_YEAR = re.compile(r"(?<![\d.])(1[89]\d\d|20\d\d)(?![\d.]|'?s\b)")
_DECADE = re.compile(r"(?<![\d.])(?:19|20)(\d0)'?s\b")  # '1980s' claims the '80s' tag
_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)")
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,80})[\"“”]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def normalise(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, one space between words."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[-_/]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=8)
def load_tag_vocabulary(path: Path = DEFAULT_TAGS_FILE) -> frozenset[str]:
    """Every tag of every vocabulary in musicnn's tags.json, normalised."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return frozenset(normalise(t) for tags in data.values() for t in tags)


def _pattern(phrase: str) -> re.Pattern[str]:
    # Whole words only; a trailing plural 's' is the same claim ('vocal' / 'vocals').
    plural = "" if phrase.endswith("s") else "(?:s|es)?"
    return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}{plural}(?![a-z0-9])")


def _contains(haystack: str, phrase: str) -> bool:
    return bool(phrase) and _pattern(phrase).search(haystack) is not None


def feel_words(track: TrackFacts) -> tuple[str, ...]:
    """Tempo and loudness in words; both the template and the check use this."""
    return tuple(w for w in (tempo_word(track.bpm), loudness_word(track.loudness_db)) if w)


_VOICED = frozenset(_VOCAL + _FEMALE + _MALE + ("choir", "choral", "opera"))


def has_vocals(track: TrackFacts) -> bool | None:
    """True when a vocal tag is shown, False when a no-vocals tag is, None when neither."""
    tags = {normalise(t) for t in track.tags}
    if tags & _VOICED:
        return True
    return False if tags & set(_NO_VOCALS) else None


def consistent_tempo_word(track: TrackFacts, word: str) -> bool:
    """Whether an absolute tempo word may be said of the track given its measured tempo:
    "slow" at 150 BPM or "fast" at 70 BPM is a contradiction, whatever the tags say."""
    if track.bpm is None:
        return True
    if word in ("slow", "slowly", "downtempo", "calm tempo"):
        return track.bpm < 100
    if word in ("fast", "quick", "uptempo", "up tempo", "rapid"):
        return track.bpm > 110
    return True


def consistent_loudness_word(track: TrackFacts, word: str) -> bool:
    if track.loudness_db is None:
        return True
    if word == "loud":
        return track.loudness_db > -20
    if word in ("quiet", "soft"):
        return track.loudness_db < -16
    return True


_TEMPO_WORDS = re.compile(
    r"(?<![a-z])(slow|slowly|downtempo|fast|quick|uptempo|up tempo|rapid)(?![a-z])"
)
_LOUD_WORDS = re.compile(r"(?<![a-z])(loud|quiet|soft)(?![a-z])")
_INSTRUMENTAL = re.compile(r"(?<![a-z])(instrumental|no vocals?|without vocals|no voice)(?![a-z])")
# A sentence about what the video asks for ("its slow movement asks for a slow tempo").
_ABOUT_THE_VIDEO = re.compile(r"\b(?:asks?|calls?) for\b|\bsuggests?\b|\bwould suggest\b")
_VOCAL_CLAIM = re.compile(r"(?<![a-z])(vocals?|voices?|singing|singer|sung|choir)(?![a-z])")


def contradictions(text: str, facts: ExplanationFacts) -> list[str]:
    """Claims about the track that disagree with each other or with its measurements:
    tempo words against the BPM, loudness words against the level, "instrumental"
    against vocal tags (and a voice claimed of an instrumental). Sentences that compare
    with the previous pick are about two tracks and are skipped."""
    track = facts.track
    issues: list[str] = []
    body = normalise(text)
    for said in sorted(
        {normalise(x) for x in (facts.video, facts.request or "", *facts.matched) if x},
        key=len,
        reverse=True,
    ):  # words about the video or the user's own are not claims about the track
        body = body.replace(said, " " * len(said))
    for sentence in _SENTENCE.split(body):
        if _COMPARE.search(sentence) or _ABOUT_THE_VIDEO.search(sentence):
            continue
        for m in _TEMPO_WORDS.finditer(sentence):
            before = sentence[: m.start()].split()[-2:]
            if any(w in _NEGATIONS for w in before):
                continue  # "not too fast"
            if not consistent_tempo_word(track, m.group(1)):
                issues.append(f"says {m.group(1)!r} of a {track.bpm:.0f} BPM track")
        for m in _LOUD_WORDS.finditer(sentence):
            if not consistent_loudness_word(track, m.group(1)):
                issues.append(f"says {m.group(1)!r} of a track at {track.loudness_db:.0f} dBFS")
        voiced = has_vocals(track)
        if voiced and _INSTRUMENTAL.search(sentence) and "without vocals" not in sentence:
            issues.append("calls a track with vocal tags instrumental")
        if voiced is False:
            for m in _VOCAL_CLAIM.finditer(sentence):
                before = sentence[: m.start()].split()[-2:]
                if not any(w in _NEGATIONS or w == "without" for w in before):
                    issues.append("gives a voice to a track tagged instrumental")
                    break
    return list(dict.fromkeys(issues))


def supported_tags(track: TrackFacts) -> frozenset[str]:
    """The tag words an explanation may claim for this track."""
    words: set[str] = set()
    for tag in (normalise(t) for t in track.tags):
        words.add(tag)
        words.update(_IMPLIES.get(tag, ()))
    for w in feel_words(track):
        words.add(w)
        words.update(_IMPLIES.get(w, ()))
    return frozenset(words)


def _names(track: TrackFacts) -> list[str]:
    return [normalise(n) for n in (track.title, track.artist, track.album) if n]


@dataclass(frozen=True)
class GroundingResult:
    issues: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def reason(self) -> str:
        return "; ".join(self.issues)


def check_grounding(
    text: str,
    facts: ExplanationFacts,
    others: Iterable[TrackFacts | str] = (),
    vocabulary: frozenset[str] | None = None,
) -> GroundingResult:
    """Checks `text` against `facts`. `others` are the other tracks (or bare names) the text
    must not name: this turn's other recommendations, say. The previous track is added."""
    vocabulary = load_tag_vocabulary() if vocabulary is None else vocabulary
    track = facts.track
    own = _names(track)
    cue_words = [w for c in facts.cues for w in (c.seen, c.asks)]
    context = " | ".join(
        normalise(s)
        for s in (
            facts.video,
            facts.request or "",
            *facts.matched,
            *facts.relaxed,
            *cue_words,
            facts.section or "",
            *own,
        )  # fmt: skip
        if s
    )
    issues: list[str] = []

    body = _DECADE.sub(r"\1s", normalise(text))
    # Blank out this track's own names first: another title may be a word of this one.
    for name in sorted(own, key=len, reverse=True):
        body = _pattern(name).sub(lambda m: " " * len(m.group(0)), body)

    supported = supported_tags(track)
    # Names of other tracks.
    other_names: dict[str, str] = {}
    for other in [*others, *([facts.previous] if facts.previous else [])]:
        raw = [other] if isinstance(other, str) else [other.title, other.artist]
        for name in raw:
            if name and len(n := normalise(name)) >= 3:
                other_names.setdefault(n, name)
    for n, name in other_names.items():
        if n in own or any(_contains(o, n) for o in own) or _contains(context, n):
            continue  # the same artist twice, or words the user or the video supplied
        if n in vocabulary or n in supported:
            continue  # a track called 'Slow' must not make the word 'slow' a name
        if _contains(body, n):
            issues.append(f"names another track or artist: {name!r}")

    # Quoted titles that are not this track's (a made-up song is still another song).
    for m in _QUOTED.finditer(text):
        quoted = normalise(m.group(1)).strip(" .,!?;:'")
        if not quoted or quoted in vocabulary or any(_contains(quoted, o) for o in own):
            continue  # a quoted tag is judged as a tag below; this title may carry its artist
        if not _contains(context, quoted) and not any(quoted in i.lower() for i in issues):
            issues.append(f"quotes a title that is not this track's: {m.group(1)!r}")

    # Numbers: a year or a tempo the facts do not give is made up.
    years = {str(y) for y in (track.year,) if y} | set(_YEAR.findall(context))
    for year in dict.fromkeys(_YEAR.findall(body)):
        if year not in years:
            issues.append(f"claims a year the facts do not give: {year}")
    for sentence in _SENTENCE.split(body):
        tempos = [t.bpm for t in (track,) if t.bpm]
        if facts.previous and facts.previous.bpm and _COMPARE.search(sentence):
            tempos.append(facts.previous.bpm)
        for value in _BPM.findall(sentence):
            if not any(abs(float(value) - t) <= 1.0 for t in tempos):
                issues.append(f"claims a tempo the facts do not give: {value} BPM")

    # Tag claims, longest tags first so 'female vocal' is not also read as 'vocal'.
    previous = supported_tags(facts.previous) if facts.previous else frozenset()
    for sentence in _SENTENCE.split(body):
        comparing = _COMPARE.search(sentence) is not None
        masked = sentence
        for tag in sorted(vocabulary, key=len, reverse=True):
            for m in list(_pattern(tag).finditer(masked)):
                masked = masked[: m.start()] + " " * (m.end() - m.start()) + masked[m.end() :]
                before = sentence[: m.start()].split()[-3:]
                if any(w.strip(",;:'\"()") in _NEGATIONS for w in before):
                    continue
                if tag in supported or _contains(context, tag):
                    continue
                if comparing and tag in previous:
                    continue
                issue = f"claims a tag the track does not have: {tag!r}"
                if issue not in issues:
                    issues.append(issue)
    return GroundingResult(tuple(issues))
