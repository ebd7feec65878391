"""The embedded demo music library: real music that a fresh machine can have offline.

- Scores from music21's corpus (Joplin, Chopin, Bach, Beethoven, Mozart, Monteverdi ...),
  rendered to audio with fluidsynth and the TimGM6mb General MIDI soundfont, each tagged
  with title, artist and year.
- Recordings from Debian's drascula-music package (the soundtrack of the freeware game
  "Drascula: The Vampire Strikes Back", BSD-like licence): untagged, so they are named
  "Artist - Title.ogg" and MuseChat takes the metadata from the file name.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.render import render_corpus_piece
from musechat_tui.errors import MuseChatError
from musechat_tui.media import load_audio
from musechat_tui.media.write import write_audio

DRASCULA_DIR = Path("/usr/share/scummvm/drascula/audio")
RENDER_RATE = 32_000


@dataclass(frozen=True)
class DemoPiece:
    corpus: str
    title: str
    artist: str
    year: str
    instrument: str | None = None  # None keeps the score's own instruments

    @property
    def filename(self) -> str:
        return f"{self.artist} - {self.title}.ogg"


DEMO_PIECES = (
    DemoPiece("joplin/maple_leaf_rag", "Maple Leaf Rag", "Scott Joplin", "1899", "piano"),
    DemoPiece("schubert/Lindenbaum", "Der Lindenbaum", "Franz Schubert", "1827"),
    DemoPiece(
        "schoenberg/opus19/movement2",
        "Six Little Piano Pieces Op. 19 No. 2",
        "Arnold Schoenberg",
        "1911",
        "piano",
    ),
    DemoPiece("bach/bwv66.6", "Chorale BWV 66.6", "J. S. Bach", "1724", "organ"),
    DemoPiece("bach/bwv1.6", "Chorale BWV 1.6 (strings)", "J. S. Bach", "1725", "violin"),
    DemoPiece("mozart/k155/movement1", "String Quartet K. 155 - Allegro", "W. A. Mozart", "1772"),
    DemoPiece(
        "haydn/opus1no1/movement1", "String Quartet Op. 1 No. 1 - Presto", "Joseph Haydn", "1762"
    ),
    DemoPiece(
        "corelli/opus3no1/1grave", "Trio Sonata Op. 3 No. 1 - Grave", "Arcangelo Corelli", "1689"
    ),
    DemoPiece("monteverdi/madrigal.3.1", "Madrigal Book 3 No. 1", "Claudio Monteverdi", "1592"),
    DemoPiece("verdi/laDonnaEMobile", "La donna e mobile", "Giuseppe Verdi", "1851"),
    DemoPiece(
        "handel/rinaldo/Lascia_chio_pianga", "Lascia ch'io pianga", "George Frideric Handel", "1711"
    ),
)

# The drascula soundtrack's longer pieces (the short ones are jingles).
DRASCULA_TRACKS = (1, 2, 5, 9, 11, 14, 16, 18, 23, 24, 26, 30)


def render_piece(piece: DemoPiece, out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="musechat-demo-") as tmp:
        wav = render_corpus_piece(
            piece.corpus, Path(tmp) / "piece.wav", RENDER_RATE, instrument=piece.instrument
        )
        samples = load_audio(wav, sample_rate=RENDER_RATE)
    tags = {
        "title": piece.title,
        "artist": piece.artist,
        "album": "music21 corpus",
        "date": piece.year,
    }
    return write_audio(out, samples, RENDER_RATE, tags=tags)


def build_demo_library(
    music_dir: Path,
    on_file: Callable[[Path], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    pieces: tuple[DemoPiece, ...] = DEMO_PIECES,
    drascula: bool = True,
) -> list[Path]:
    """Make (or complete) the demo library in `music_dir`; returns its files. Files already
    there are kept, and each new file is written through a temp name, so an interrupted
    build resumes where it stopped. A piece that cannot be rendered is reported through
    `on_skip` and left out: the demo goes on with the rest."""
    music_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for piece in pieces:
        out = music_dir / piece.filename
        if not out.exists():
            try:
                render_piece(piece, out)
            except MuseChatError as exc:
                if on_skip:
                    on_skip(f"{piece.corpus}: {exc}")
                continue
        files.append(out)
        if on_file:
            on_file(out)
    if drascula and DRASCULA_DIR.is_dir():
        for n in DRASCULA_TRACKS:
            src = DRASCULA_DIR / f"track{n}.ogg"
            out = music_dir / f"Drascula OST - Track {n}.ogg"
            if src.exists() and not out.exists():
                part = out.with_suffix(".part")
                shutil.copyfile(src, part)
                part.replace(out)
            if out.exists():
                files.append(out)
                if on_file:
                    on_file(out)
    return files


# A larger library for the paper's tables (bench/paper_tables.sh): single-score works of
# music21's corpus (its multi-tune folk collections are left out), each played on one of
# these instruments in turn (None keeps the score's own), so timbre varies as in real music.
CORPUS_COMPOSERS = (
    "bach", "monteverdi", "trecento", "palestrina", "beethoven", "mozart", "haydn",
    "schumann_robert", "schumann_clara", "josquin",
)  # fmt: skip
CORPUS_INSTRUMENTS = (
    None, "piano", "violin", "flute", "acoustic guitar", "organ", "clarinet",
    "harpsichord", "trumpet", "violoncello", "vibraphone", "electric guitar",
)  # fmt: skip


def corpus_pieces(n: int, seed: int = 0) -> tuple[DemoPiece, ...]:
    """`n` works drawn evenly (round-robin, seeded) from CORPUS_COMPOSERS."""
    import random

    from music21 import corpus

    rng = random.Random(seed)
    queues: list[tuple[str, list[Path]]] = []
    for composer in CORPUS_COMPOSERS:
        # .txt files are RomanText analyses, not scores
        works = sorted(Path(p) for p in corpus.getComposer(composer) if Path(p).suffix != ".txt")
        rng.shuffle(works)
        queues.append((composer.replace("_", " ").title(), works))
    chosen: list[DemoPiece] = []
    while len(chosen) < n and any(works for _, works in queues):
        for artist, works in queues:
            if works and len(chosen) < n:
                path = works.pop()
                title = (
                    path.stem
                    if path.parent.name.lower() in artist.lower()
                    else (f"{path.parent.name} {path.stem}")
                )
                instrument = CORPUS_INSTRUMENTS[len(chosen) % len(CORPUS_INSTRUMENTS)]
                played = f" ({instrument})" if instrument else ""
                chosen.append(DemoPiece(str(path), f"{title}{played}", artist, "", instrument))
    return tuple(chosen)
