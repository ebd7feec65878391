"""The input of `synth`: which (video, target music) pairs make quartets, and the split.

- A folder: every video file under it (recursively) is a music video whose own soundtrack
  is the target music (the paper's YouTube-8M setting).
- A JSONL file, one object per line: {"video": PATH, "music": PATH}; or a CSV file with the
  columns video,music. "music" may be left out or empty: the video's own audio. Relative
  paths are relative to the list file's folder.

Entries that cannot be used (missing file, bad line) are recorded, never fatal.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.index import walk_media
from musechat_tui.dataset import Split
from musechat_tui.errors import MuseChatError

VIDEO_EXTENSIONS = frozenset([".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi"])


class CorpusError(MuseChatError):
    """The corpus cannot be read at all (missing folder, unreadable list)."""


@dataclass(frozen=True)
class CorpusEntry:
    video: Path
    music: Path  # the same file as `video` when the target is the video's own audio

    @property
    def own_audio(self) -> bool:
        return self.video == self.music


def read_corpus(source: Path, failures: list[tuple[str, str]]) -> list[CorpusEntry]:
    """The entries of a folder or a JSONL/CSV list, in a stable order; unusable entries
    are appended to `failures` as (path or line, reason)."""
    if source.is_dir():
        return [
            CorpusEntry(p.absolute(), p.absolute())
            for p in walk_media(source, failures)
            if p.suffix.lower() in VIDEO_EXTENSIONS
        ]
    if not source.is_file():
        raise CorpusError(f"{source}: no such folder or pair list")
    suffix = source.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise CorpusError(f"{source}: a pair list must be .jsonl or .csv (got {suffix or 'none'})")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{source}: cannot be read: {exc}") from None
    rows = _jsonl_rows(text, source, failures) if suffix == ".jsonl" else _csv_rows(text, source)
    entries: list[CorpusEntry] = []
    for where, video, music in rows:
        if not video:
            failures.append((where, "no video path"))
            continue
        v = _resolve(source.parent, video)
        m = _resolve(source.parent, music) if music else v
        missing = [str(p) for p in dict.fromkeys([v, m]) if not p.is_file()]
        if missing:
            failures.append((where, f"file does not exist: {', '.join(missing)}"))
            continue
        entries.append(CorpusEntry(v, m))
    return list(dict.fromkeys(entries))  # a pair listed twice is one entry


def _resolve(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else base / p).absolute()


def _jsonl_rows(
    text: str, source: Path, failures: list[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{n}"
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            failures.append((where, f"not a JSON object: {exc}"))
            continue
        rows.append((where, str(d.get("video") or ""), str(d.get("music") or "")))
    return rows


def _csv_rows(text: str, source: Path) -> list[tuple[str, str, str]]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "video" not in reader.fieldnames:
        raise CorpusError(f"{source}: a CSV pair list needs a header with a 'video' column")
    return [
        (f"{source}:{n}", (r.get("video") or "").strip(), (r.get("music") or "").strip())
        for n, r in enumerate(reader, 2)
    ]


def assign_splits(ids: list[str], test_fraction: float, seed: int) -> dict[str, Split]:
    """A fixed-seed random split, like the paper's 88,000 / 10,206: the same ids and seed
    always give the same split, whatever order the items were processed in. At least one
    test item once there are two items and test_fraction > 0."""
    ordered = sorted(set(ids))
    n_test = int(round(test_fraction * len(ordered)))
    if test_fraction > 0 and len(ordered) >= 2:
        n_test = min(max(n_test, 1), len(ordered) - 1)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    test = {ordered[i] for i in perm[:n_test]}
    return {i: ("test" if i in test else "train") for i in ordered}
