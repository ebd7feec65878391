"""What the conversation is allowed to know about a track: its metadata (title, track name,
album, artist, as in the paper's prompt) and its top-5 MTT and MSD tags. The generators
phrase these facts, the validator checks conversations against them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from musechat_tui.analysis import _FILENAME_SEP
from musechat_tui.dataset import MusicItem
from musechat_tui.media.probe import MediaInfo


@dataclass
class PromptTrackFacts:
    """One track as the synthesis prompt and the validator see it: its names and tags."""

    title: str | None = None  # the display title (container tag, else the file name)
    track: str | None = None  # the track's own name, when it can be told apart
    album: str | None = None
    artist: str | None = None
    mtt: list[str] = field(default_factory=list)
    msd: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """What a system turn calls the track: its track name, else its title."""
        return self.track or self.title or "this track"

    @property
    def names(self) -> list[str]:
        """Every name the track goes by (for leak and naming checks)."""
        return [n for n in dict.fromkeys([self.track, self.title]) if n]

    @property
    def tags(self) -> list[str]:
        """MTT then MSD tags, case-insensitively deduplicated, best first."""
        seen: dict[str, str] = {}
        for t in [*self.mtt, *self.msd]:
            seen.setdefault(t.lower(), t)
        return list(seen.values())

    @classmethod
    def of(cls, item: MusicItem) -> PromptTrackFacts:
        return cls(item.title, item.track, item.album, item.artist, list(item.mtt), list(item.msd))


def music_metadata(info: MediaInfo) -> dict[str, str | None]:
    """title/track/album/artist from the container tags and the file name.

    Like a YouTube title, `title` is what the file calls itself (its title tag, else its
    file name); `track` is the song's own name: the title tag, else the part after
    "Artist - " in the file name; `artist` the artist tag, else the part before it."""
    tags = info.tags
    stem = info.path.stem.replace("_", " ").strip()
    parts = _FILENAME_SEP.split(stem, maxsplit=1)
    parsed = len(parts) == 2 and all(p.strip() for p in parts)
    return {
        "title": tags.get("title") or stem,
        "track": tags.get("title") or (parts[1].strip() if parsed else None),
        "album": tags.get("album"),
        "artist": tags.get("artist") or (parts[0].strip() if parsed else None),
    }


_PUNCT = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation folded to spaces: 'Lascia ch’io' == 'lascia ch io'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " " + _PUNCT.sub(" ", text.lower()).strip() + " "


def mentions(text: str, phrase: str) -> bool:
    """Whether `text` contains `phrase` as whole words, ignoring case and punctuation."""
    p = normalise(phrase)
    return p.strip() != "" and p in normalise(text)


def identity(facts: PromptTrackFacts) -> str:
    """Two items with the same identity are the same song (two excerpts of one track)."""
    return normalise(f"{facts.artist or ''} | {facts.track or facts.title or ''}").strip()
