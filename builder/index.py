"""`musechat-builder index`: a music folder into the catalog, incrementally and crash-safely.

Pipeline: walk the folder (symlink loops and unreadable folders are recorded, not fatal),
compare each file with the catalog's fingerprints (size + mtime first; the content hash
only when those changed), decode the files that need it in worker processes while the
main process runs the audio encoder on the previous ones, and commit tracks in small
batches, each one transaction. The HNSW index is brought up to date at the end; if the
process dies first, the next open rebuilds it from SQLite (the truth).

Under `accelerate launch` each process analyses its share of the files (rank r takes
every r-th) and sends the results to the main process, the only writer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from builder.parallel import map_ahead
from musechat_tui.analysis import (
    TEMPO_VERSION,
    DecodedTrack,
    TrackAnalysis,
    WindowReading,
    decode_track,
    describe_track,
    encode_track,
    read_window,
)
from musechat_tui.catalog import Catalog, CatalogDamagedError, TrackRecord, VectorIndex
from musechat_tui.config import Settings
from musechat_tui.encoders import (
    AudioEncoder,
    build_audio_encoder,
    build_text_encoder,
    text_encoder_id,
)
from musechat_tui.engine.text_norms import hub_stats, reference_bank
from musechat_tui.errors import MuseChatError
from musechat_tui.media.files import NotRegularFileError, content_hash, regular_file_stat
from musechat_tui.music_character import CHARACTER_VERSION
from musechat_tui.sanitize import readable

MEDIA_EXTENSIONS = frozenset(
    [
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".flac",
        ".wav",
        ".m4a",
        ".aac",
        ".aif",
        ".aiff",
        ".wma",
        ".mka",
        ".mp4",
        ".m4v",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
    ]
)
COMMIT_EVERY = 8  # tracks per transaction: small enough that a crash loses little work


class NothingIndexedError(MuseChatError):
    """No track could be indexed (empty folder, or every file failed)."""


@dataclass(frozen=True)
class Candidate:
    path: str
    size: int
    mtime: float
    content_hash: str


@dataclass
class IndexReport:
    music_dir: str
    catalog_dir: str
    found: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    # Files that failed on an earlier run and have not changed since (not retried).
    failed_before: list[tuple[str, str]] = field(default_factory=list)
    set_aside: str = ""  # where --rebuild moved a damaged catalog.sqlite
    audio_seconds: float = 0.0
    seconds: float = 0.0
    index_status: str = ""
    tracks_in_catalog: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["failures"] = [{"path": p, "reason": r} for p, r in self.failures]
        d["failed"] = len(self.failures)
        d["failed_before"] = [{"path": p, "reason": r} for p, r in self.failed_before]
        return d


def walk_media(root: Path, errors: list[tuple[str, str]]) -> Iterator[Path]:
    """Media files under `root` (recursive, following symlinks once: a loop is recorded
    in `errors`, never followed twice)."""
    seen_dirs: set[tuple[int, int]] = set()

    def onerror(exc: OSError) -> None:
        errors.append((str(exc.filename or root), f"folder cannot be read: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=onerror):
        try:
            st = os.stat(dirpath)
        except OSError as exc:
            onerror(exc)
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            errors.append((dirpath, "symlink loop: folder already visited, skipped"))
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() in MEDIA_EXTENSIONS and not name.startswith("."):
                yield path


def plan(
    catalog: Catalog, files: list[Path], report: IndexReport
) -> tuple[list[Candidate], int, set[str]]:
    """(files to index, count unchanged, paths present). A file whose size and mtime
    match is unchanged; one that only got touched (same hash) is unchanged too; one that
    failed before and has not changed is not retried, and is listed in
    `report.failed_before` with its recorded reason."""
    failures = report.failures
    known = catalog.fingerprints()
    # Analysed before the current music_character or tempo estimator: re-analysed even
    # when unchanged.
    outdated = catalog.paths_analysed_before(CHARACTER_VERSION, TEMPO_VERSION)
    failed_before = {f["path"]: f for f in catalog.failures()}
    todo: list[Candidate] = []
    unchanged = 0
    present: set[str] = set()
    for path in files:
        key = os.path.abspath(path)
        present.add(key)
        try:
            st = regular_file_stat(path)
            if key in known and key not in outdated and known[key][:2] == (st.st_size, st.st_mtime):
                unchanged += 1
                continue
            before = failed_before.get(key)
            if before is not None and (before["size"], before["mtime"]) == (
                st.st_size,
                st.st_mtime,
            ):
                report.failed_before.append((key, before["reason"]))
                continue
            digest = content_hash(path, st.st_size)
        except NotRegularFileError as exc:
            failures.append((key, str(exc)))
            continue
        except OSError as exc:
            failures.append((key, f"cannot be read: {exc.strerror or exc}"))
            continue
        if key in known and key not in outdated and known[key][2] == digest:
            unchanged += 1  # touched, not changed: the old analysis stands
            continue
        todo.append(Candidate(key, st.st_size, st.st_mtime, digest))
    return todo, unchanged, present


def decode_candidate(
    candidate: Candidate, settings: Settings
) -> tuple[DecodedTrack, WindowReading] | str:
    """Runs in a worker process: the decoded track and what its signal says (key, onsets,
    pulse: librosa work that overlaps the encoder this way), or why it cannot be used."""
    try:
        decoded = decode_track(Path(candidate.path), settings)
        return decoded, read_window(decoded)
    except MuseChatError as exc:
        return str(exc.cause) if hasattr(exc, "cause") else str(exc)
    except Exception as exc:  # a decoder bug must not stop the whole library
        return f"unexpected error while decoding: {type(exc).__name__}: {exc}"


def to_record(c: Candidate, t: TrackAnalysis) -> TrackRecord:
    return TrackRecord(
        path=c.path,
        size=c.size,
        mtime=c.mtime,
        content_hash=c.content_hash,
        duration=t.duration,
        embedding=t.embedding,
        encoder=t.encoder,
        # Names from a non-UTF-8 file name keep their bytes as \xNN: text the tokenisers,
        # the LLM and the terminal can all take (the path itself stays exact).
        title=_readable(t.metadata.title),
        artist=_readable(t.metadata.artist),
        album=_readable(t.metadata.album),
        year=int(t.metadata.year) if t.metadata.year else None,
        window_start=t.window_start,
        bpm=t.bpm,
        energy=t.energy_db,
        energy_curve=t.energy_curve,
        segment_embeddings=t.features.embeddings,
        segment_starts=np.asarray(t.segment_starts, dtype=np.float32),
        tags={vocab: t.top_tags(vocab, 10) for vocab in t.features.tags},
        music_key=t.character.key if t.character else None,
        major=t.character.major if t.character else None,
        centroid_hz=t.character.centroid_hz if t.character else None,
        onset_rate=t.character.onset_rate if t.character else None,
        character_version=CHARACTER_VERSION,
        tempo_version=TEMPO_VERSION,
    )


def analyse_candidates(
    candidates: list[Candidate],
    settings: Settings,
    encoder: AudioEncoder,
    jobs: int,
) -> Iterator[tuple[Candidate, TrackRecord | str]]:
    """(candidate, record or failure reason) in input order; decoding runs `jobs` files
    ahead of the encoder in worker processes (see builder.parallel)."""
    decoded_all = map_ahead(
        decode_candidate,
        candidates,
        settings,
        jobs,
        timeout_s=settings.decode_timeout_s,
        on_timeout=lambda _c, s: (
            f"decoding and reading the window took longer than {s:g} s (setting decode_timeout_s)"
        ),
    )
    for c, decoded in decoded_all:
        yield c, decoded if isinstance(decoded, str) else _encode(c, *decoded, encoder)


def _encode(
    c: Candidate, decoded: DecodedTrack, reading: WindowReading, encoder: AudioEncoder
) -> TrackRecord | str:
    try:
        return to_record(c, encode_track(decoded, encoder, reading))
    except MuseChatError as exc:
        return str(exc)


def add_text_embeddings(
    records: list[TrackRecord], text_encoder: Any, bank: tuple[str, np.ndarray] | None = None
) -> None:
    """The track descriptions' sentence vectors (what `search "calm piano"` compares to)
    and their hubness statistics against the reference bank (text_norms; encoded here
    when not given)."""
    if records:
        bank_name, bank_vectors = bank or reference_bank(text_encoder)
        for r in records:
            r.description = describe_track(r)
        vectors = np.asarray(text_encoder.encode([r.description for r in records]), np.float32)
        means, spreads = hub_stats(vectors, bank_vectors)
        for r, v, m, sd in zip(records, vectors, means, spreads, strict=True):
            r.text_embedding = v
            r.text_hub = (float(m), float(sd))
            r.text_hub_bank = bank_name


ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class _OneProcess:
    """accelerate's PartialState for a plain run: importing accelerate imports torch,
    2.5 s that a single indexing process does not need."""

    is_main_process: bool = True
    num_processes: int = 1
    process_index: int = 0

    def wait_for_everyone(self) -> None:
        pass


def _gather(batch: list[Any]) -> list[Any]:
    from accelerate.utils import gather_object

    return gather_object(batch)


def process_state() -> Any:
    """accelerate's state when launched as several processes (`accelerate launch` sets
    WORLD_SIZE), else the one process there is."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        from accelerate import PartialState

        return PartialState()
    return _OneProcess()


def index_library(
    settings: Settings,
    music_dir: Path,
    catalog_dir: Path,
    jobs: int = 1,
    rebuild: bool = False,
    on_progress: ProgressFn | None = None,
) -> IndexReport:
    """Index `music_dir` into the catalog at `catalog_dir` (the whole job of `index`)."""
    state = process_state()
    if not music_dir.is_dir():
        raise MuseChatError(f"{music_dir}: music folder does not exist or is not a folder")
    report = IndexReport(str(music_dir), str(catalog_dir))
    t0 = time.perf_counter()
    # The main process is the only writer: its writable open takes the catalog's lock
    # (a second `index` is refused) and creates the catalog before the others read it.
    writer = _open_writer(catalog_dir, rebuild, report) if state.is_main_process else None
    try:
        if writer and rebuild:
            writer.clear()
        state.wait_for_everyone()
        with writer or Catalog.open(catalog_dir, readonly=True) as catalog:
            files = list(walk_media(music_dir, report.failures))
            report.found = len(files)
            todo, report.unchanged, present = plan(catalog, files, report)
            gone = [p for p in catalog.fingerprints() if _under(p, music_dir) and p not in present]
            if writer and gone:
                report.removed = catalog.remove_paths(gone)
            _index_todo(catalog, todo, settings, jobs, state, report, on_progress)
            if writer:
                refresh_hub_stats(catalog, settings)
                catalog.record_failures([(p, r, *_stat(p)) for p, r in report.failures])
                if catalog.count():
                    _, report.index_status = VectorIndex.build_from(catalog)
                report.tracks_in_catalog = catalog.count()
    finally:
        if writer:
            writer.close()
    report.seconds = time.perf_counter() - t0
    if state.is_main_process and report.indexed == 0 and report.tracks_in_catalog == 0:
        why = (
            f"no audio or video files found under {music_dir}"
            if report.found == 0
            else f"none of the {report.found} files could be indexed (see the failures above)"
        )
        raise NothingIndexedError(why)
    return report


def _index_todo(
    catalog: Catalog,
    todo: list[Candidate],
    settings: Settings,
    jobs: int,
    state: Any,
    report: IndexReport,
    on_progress: ProgressFn | None,
) -> None:
    """Analyse `todo` (this process's share under accelerate) and write it in batches."""
    if not todo and state.num_processes == 1:
        return
    mine = todo[state.process_index :: state.num_processes]
    rounds = -(-len(todo) // (COMMIT_EVERY * state.num_processes)) if todo else 0
    encoder = build_audio_encoder(settings)
    # The text model loads in the background while the first tracks are analysed.
    loader = ThreadPoolExecutor(max_workers=1)
    text_encoder = loader.submit(build_text_encoder, settings) if state.is_main_process else None
    loader.shutdown(wait=False)
    results = analyse_candidates(mine, settings, encoder, jobs)
    bank: tuple[str, np.ndarray] | None = None
    done = 0
    for _ in range(rounds):
        chunk = [r for _, r in zip(range(COMMIT_EVERY), results, strict=False)]
        batch = [(c.path, out) for c, out in chunk]
        gathered = _gather(batch) if state.num_processes > 1 else batch
        if not state.is_main_process:
            continue
        records = [out for _, out in gathered if isinstance(out, TrackRecord)]
        report.failures.extend((p, out) for p, out in gathered if isinstance(out, str))
        if text_encoder is not None and bank is None:
            bank = reference_bank(text_encoder.result())
        add_text_embeddings(records, text_encoder.result() if text_encoder else None, bank)
        catalog.put_tracks(records)
        report.indexed += len(records)
        report.audio_seconds += sum(min(r.duration, settings.window_seconds) for r in records)
        done += len(gathered)
        if on_progress:
            on_progress(done, len(todo), gathered[-1][0] if gathered else "")


def refresh_hub_stats(catalog: Catalog, settings: Settings) -> int:
    """Recompute the hubness statistics of tracks stored against an older reference bank
    (or none): only numbers change, no track is analysed again. Returns how many."""
    from musechat_tui.engine.text_norms import reference_bank_id

    # The bank's id is known without loading the model: it loads only when work is due.
    name = reference_bank_id(text_encoder_id(settings))
    ids, texts = catalog.stale_hub_stats(name)
    if len(ids):
        _, vectors = reference_bank(build_text_encoder(settings))
        mean, spread = hub_stats(texts, vectors)
        catalog.put_hub_stats(ids, mean, spread, name)
    return len(ids)


def _open_writer(catalog_dir: Path, rebuild: bool, report: IndexReport) -> Catalog:
    """The catalog, for writing. With `rebuild`, a damaged catalog.sqlite is set aside
    (kept, never deleted) and the catalog starts over."""
    try:
        return Catalog.open(catalog_dir, create=True)
    except CatalogDamagedError as exc:
        if not rebuild:
            raise
        from musechat_tui.catalog.recover import set_aside

        report.set_aside = str(set_aside(exc.db_path))
        return Catalog.open(catalog_dir, create=True)


def _readable(text: str | None) -> str | None:
    return None if text is None else readable(text)


def _under(path: str, root: Path) -> bool:
    root_s = os.path.abspath(root)
    return path == root_s or path.startswith(root_s.rstrip(os.sep) + os.sep)


def _stat(path: str) -> tuple[int | None, float | None]:
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime
    except OSError:
        return None, None
