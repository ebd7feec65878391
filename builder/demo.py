"""`musechat-builder demo`: make the demo library and videos, then analyse them end to end
with the offline encoders (media decoding, musicnn tags, tempo, loudness, frame classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from builder.demo_library import build_demo_library
from builder.demo_videos import DEMO_VIDEOS, write_slideshow
from musechat_tui.analysis import TrackAnalysis, VideoAnalysis, analyse_track, analyse_video
from musechat_tui.config import Settings
from musechat_tui.encoders import build_audio_encoder, build_image_encoder


def track_summary(t: TrackAnalysis) -> dict[str, Any]:
    return {
        "path": str(t.path),
        "title": t.metadata.title,
        "artist": t.metadata.artist,
        "year": t.metadata.year,
        "duration": round(t.duration, 1),
        "bpm": t.bpm,
        "loudness_db": round(t.energy_db, 1),
        "mtt": [tag.name for tag in t.top_tags("mtt")],
        "msd": [tag.name for tag in t.top_tags("msd")],
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
    # With --json the human-readable output goes to stderr and stdout carries only JSON.
    console = Console(stderr=quiet)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("rendering demo library", total=None)
        music = build_demo_library(
            out / "music",
            on_file=lambda _: progress.advance(task),
            on_skip=lambda why: console.print(f"[yellow]skipped[/] {why}"),
        )
        video_dir = out / "videos"
        video_dir.mkdir(parents=True, exist_ok=True)
        videos = []
        for spec in DEMO_VIDEOS:
            path = video_dir / f"{spec.name}.mp4"
            videos.append(path if path.exists() else write_slideshow(spec, path))

        audio_encoder = build_audio_encoder(settings)
        task = progress.add_task("analysing tracks", total=len(music))
        tracks = []
        for path in music:
            tracks.append(track_summary(analyse_track(path, settings, audio_encoder)))
            progress.advance(task)
        image_encoder = build_image_encoder(settings)
        video_reports = [video_summary(analyse_video(v, settings, image_encoder)) for v in videos]

    table = Table(title=f"Demo library: {len(tracks)} tracks in {out / 'music'}")
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
        console.print(
            f"[bold]{Path(v['path']).name}[/]: {v['description']} ({v['frames']} frames analysed)"
        )
    return {"music_dir": str(out / "music"), "tracks": tracks, "videos": video_reports}
