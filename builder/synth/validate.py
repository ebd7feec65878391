"""The paper's rules (Figure 6), checked on every generated conversation.

- structure: four non-empty turns, user / system / user / system;
- title_leak: a user turn names the original (target) track: its title or track name;
- missing_recommendation: a system turn does not name the track it recommends (t2 the
  candidate, t4 the target);
- names_target_early: t2 already names the target (it would give the answer away);
- tag_not_of_track: a system turn claims a tag (a word of the MTT/MSD vocabularies) that
  the recommended track does not have.

Tag claims are found as whole words, longest phrase first ("female vocal" before "vocal"),
plural-insensitive, with synonyms folded (voice = vocal, chillout = chill ...). A tag is
the track's when it equals one of the track's tags or is part of one ("vocal" of "male
vocal", "rock" of "indie rock"). Negated mentions ("no drums", "without piano", "isn't
loud") and words that describe the user's video ("dance video") are not claims.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.synth.facts import PromptTrackFacts, mentions, normalise
from musechat_tui.dataset import Turn

ROLES = ("user", "system", "user", "system")
NEGATIONS = {"no", "not", "without", "non", "less", "t", "never", "nor", "lacks", "lacking"}
VIDEO_NOUNS = {"video", "videos", "clip", "clips", "footage", "visuals", "scene", "scenes"}
GENERIC_NAMES = {"music", "song", "track", "video", "intro", "outro", "untitled", "theme"}
_SYNONYMS = {
    "voice": "vocal",
    "singing": "vocal",
    "male voice": "male vocal",
    "male vocalist": "male vocal",
    "female voice": "female vocal",
    "female vocalist": "female vocal",
    "no voice": "no vocal",
    "instrumental": "no vocal",
    "man": "male",
    "woman": "female",
    "choral": "choir",
    "electronica": "electronic",
    "electro": "electronic",
    "chillout": "chill",
    "classic": "classical",
}


@dataclass(frozen=True)
class Violation:
    code: str
    turn: int  # 1..4, 0 for the whole conversation
    detail: str

    def __str__(self) -> str:
        return f"t{self.turn} {self.code}: {self.detail}" if self.turn else self.detail


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def canonical(tag: str) -> str:
    words = " ".join(_singular(w) for w in normalise(tag).split())
    return _SYNONYMS.get(words, words)


def load_vocabulary(musicnn_dir: Path, extra: Iterable[str] = ()) -> list[str]:
    """Every tag a track can carry: musicnn's MTT and MSD vocabularies plus any seen."""
    tags: list[str] = []
    try:
        data = json.loads((musicnn_dir / "tags.json").read_text(encoding="utf-8"))
        for names in data.values():
            tags.extend(names)
    except (OSError, ValueError):
        pass
    return list(dict.fromkeys([*tags, *extra]))


class TagMatcher:
    def __init__(self, vocabulary: Iterable[str]) -> None:
        phrases = {normalise(t).strip(): t for t in vocabulary if normalise(t).strip()}
        # Longest first, so "female vocal" is taken before "vocal" can be.
        self.phrases = sorted(phrases, key=lambda p: (-len(p.split()), -len(p)))
        self.patterns = [
            (p, re.compile(r"(?<!\S)" + re.escape(p) + r"s?(?!\S)")) for p in self.phrases
        ]

    def claims(self, text: str, names: Iterable[str] = ()) -> list[str]:
        """Tag phrases `text` asserts (normalised), in order of appearance. Words inside
        `names` (titles, artists, albums: 'Voices', 'Rock Band') are not claims."""
        norm = normalise(text)
        for name in sorted({normalise(n) for n in names if n.strip()}, key=len, reverse=True):
            if name.strip():
                norm = norm.replace(name, " " + "_" * (len(name) - 2) + " ")
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, str]] = []
        for phrase, pattern in self.patterns:
            for m in pattern.finditer(norm):
                a, b = m.span()
                if any(a < y and x < b for x, y in taken):
                    continue
                taken.append((a, b))
                before = norm[:a].split()[-2:]
                after = norm[b:].split()[:1]
                if (before and before[-1] in NEGATIONS) or before == ["instead", "of"]:
                    continue
                if after and after[0] in VIDEO_NOUNS:
                    continue
                found.append((a, phrase))
        return [p for _, p in sorted(found)]


def supported(claim: str, track_tags: Iterable[str]) -> bool:
    c = canonical(claim)
    words = set(c.split())
    for t in track_tags:
        ct = canonical(t)
        if ct == c or words <= set(ct.split()):
            return True
    return False


_PARTS = re.compile(r"\s+[-–—/|]\s+|:\s+")


def name_variants(name: str) -> list[str]:
    """A name and its core without bracketed parts or 'feat.' credits."""
    core = re.sub(r"[\(\[].*?[\)\]]", " ", name)
    core = re.split(r"\b(?:feat|ft|featuring)\b\.?", core, flags=re.I)[0]
    return [v for v in dict.fromkeys([name.strip(), core.strip(" -")]) if v]


def _named(text: str, name: str) -> bool:
    """`name` is mentioned, or all the parts of a YouTube-style 'Artist - Track' or
    'Artist / Track' title are, in any order ("'Voices' by Crown The Empire")."""
    for v in name_variants(name):
        parts = [p for p in _PARTS.split(v) if p.strip()]
        if mentions(text, v) or (len(parts) > 1 and all(mentions(text, p) for p in parts)):
            return True
    return False


def names_track(text: str, facts: PromptTrackFacts) -> bool:
    return any(_named(text, n) for n in facts.names)


def validate(
    turns: list[Turn], target: PromptTrackFacts, candidate: PromptTrackFacts, matcher: TagMatcher
) -> list[Violation]:
    """Every rule the conversation breaks (empty: valid)."""
    if len(turns) != 4 or any(
        t.role != r or not t.text.strip() for t, r in zip(turns, ROLES, strict=False)
    ):
        got = "/".join(t.role for t in turns) or "nothing"
        return [Violation("malformed", 0, f"expected user/system/user/system turns, got {got}")]
    out: list[Violation] = []
    names = [
        p
        for f in (target, candidate)
        for n in [*f.names, f.artist or "", f.album or ""]
        for v in name_variants(n)
        for p in [v, *_PARTS.split(v)]
    ]
    for i in (0, 2):
        for name in target.names:
            if normalise(name).strip() in GENERIC_NAMES:
                continue
            if mentions(turns[i].text, name):
                out.append(Violation("title_leak", i + 1, f"user names the original {name!r}"))
    for i, facts in ((1, candidate), (3, target)):
        if not names_track(turns[i].text, facts):
            out.append(Violation("missing_recommendation", i + 1, f"does not name {facts.name!r}"))
        for claim in matcher.claims(turns[i].text, names):
            if not supported(claim, facts.tags):
                out.append(
                    Violation(
                        "tag_not_of_track",
                        i + 1,
                        f"claims {claim!r}, not a tag of {facts.name!r} ({', '.join(facts.tags)})",
                    )
                )
    if names_track(turns[1].text, target) and not any(
        mentions(n, v) for n in candidate.names for t in target.names for v in name_variants(t)
    ):
        out.append(Violation("names_target_early", 2, f"t2 already names {target.name!r}"))
    return out
