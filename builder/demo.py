"""`musechat-builder demo`: make the demo library and videos, index the library into the
demo catalog, and show what MuseChat sees: every track's tags, tempo and loudness, what
each video shows, and a text search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from builder.demo_library import build_demo_library
from builder.demo_videos import DEMO_VIDEOS, write_slideshow
from builder.index import index_library
from builder.progress import print_summary
from builder.text_search import search_catalog
from musechat_tui.analysis import VideoAnalysis, analyse_video
from musechat_tui.catalog import Catalog, TrackRecord
from musechat_tui.config import Settings
from musechat_tui.encoders import build_image_encoder

DEMO_QUERIES = ("calm solo piano", "energetic rock with drums and guitar")


def demo_dir(settings: Settings) -> Path:
    return settings.data_dir / "demo"


def track_summary(t: TrackRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "path": t.path,
        "title": t.title,
        "artist": t.artist,
        "year": t.year,
        "duration": round(t.duration, 1),
        "bpm": t.bpm,
        "loudness_db": None if t.energy is None else round(t.energy, 1),
        "mtt": [tag.name for tag in t.tags.get("mtt", [])[:5]],
        "msd": [tag.name for tag in t.tags.get("msd", [])[:5]],
    }


def video_summary(v: VideoAnalysis) -> dict[str, Any]:
    return {
        "path": str(v.path),
        "duration": round(v.info.duration, 1),
        "frames": len(v.frame_times),
        "sees": [label.name for label in v.labels[:5]],
        "description": v.describe(),
    }


def run_demo(settings: Settings, out: Path, quiet: bool = False) -> dict[str, Any]:
    """Build everything under `out` (media) and `settings.catalog_path` (the demo catalog)."""
    # With --json the human-readable output goes to stderr and stdout carries only JSON.
    console = Console(stderr=quiet)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("demo library", total=None)
        music_dir = out / "music"
        build_demo_library(
            music_dir,
            on_file=lambda _: progress.advance(task),
            on_skip=lambda why: console.print(f"[yellow]skipped[/] {why}"),
        )
        video_dir = out / "videos"
        video_dir.mkdir(parents=True, exist_ok=True)
        videos = []
        for spec in DEMO_VIDEOS:
            path = video_dir / f"{spec.name}.mp4"
            videos.append(path if path.exists() else write_slideshow(spec, path))

        task = progress.add_task("indexing", total=None)
        report = index_library(
            settings,
            music_dir,
            settings.catalog_path,
            # the demo's catalog is derived: remade when an older encoder built it
            rebuild=_built_by_another_encoder(settings),
            on_progress=lambda done, total, _: progress.update(task, completed=done, total=total),
        )
        image_encoder = build_image_encoder(settings)
        video_reports = [video_summary(analyse_video(v, settings, image_encoder)) for v in videos]
    print_summary(report, console)

    with Catalog.open(settings.catalog_path, readonly=True) as catalog:
        tracks = [track_summary(t) for t in catalog.get_tracks(catalog.ids(), segments=False)]
    searches = {q: search_catalog(settings, q, k=3) for q in DEMO_QUERIES}

    table = Table(title=f"Demo catalog: {len(tracks)} tracks ({settings.catalog_path})")
    for col in ("artist", "title", "s", "bpm", "dB", "MTT tags", "MSD tags"):
        table.add_column(col, overflow="fold")
    for t in tracks:
        table.add_row(
            t["artist"] or "",
            t["title"],
            f"{t['duration']:.0f}",
            f"{t['bpm'] or '-'}",
            f"{t['loudness_db']}",
            ", ".join(t["mtt"][:4]),
            ", ".join(t["msd"][:4]),
        )
    console.print(table)
    for v in video_reports:
        console.print(f"[bold]{Path(v['path']).name}[/]: {v['description']} ({v['frames']} frames)")
    for query, hits in searches.items():
        found = "; ".join(f"{h['artist']} - {h['title']} ({h['score']:.2f})" for h in hits)
        console.print(f'[bold]search "{query}"[/]: {found}')
    return {
        "music_dir": str(music_dir),
        "catalog": str(settings.catalog_path),
        "index": report.as_dict(),
        "tracks": tracks,
        "videos": video_reports,
        "searches": searches,
    }


def _built_by_another_encoder(settings: Settings) -> bool:
    if not (settings.catalog_path / "catalog.sqlite").exists():
        return False
    from musechat_tui.encoders import audio_encoder_id

    with Catalog.open(settings.catalog_path, readonly=True) as catalog:
        return catalog.encoder not in (None, audio_encoder_id(settings))
