"""Terminal output of the builder: a progress bar with tracks/s and ETA for `index`, the
end-of-run summary (with the failures), and the `info` view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from builder.index import IndexReport, index_library
from musechat_tui.config import Settings
from musechat_tui.sanitize import clean, markup


class TracksPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} tracks/s" if speed else "- tracks/s", style="progress.data.speed")


def index_with_progress(
    settings: Settings, music_dir: Path, jobs: int, rebuild: bool
) -> IndexReport:
    # With --json, humans read stderr and stdout carries only the JSON.
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TracksPerSecond(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=console,
        transient=True,
    )
    task = progress.add_task("index", total=None, current="")

    def on_progress(done: int, total: int, current: str) -> None:
        name = clean(Path(current).name, limit=40)
        progress.update(task, completed=done, total=total, current=name)

    with progress:
        report = index_library(
            settings,
            music_dir,
            settings.catalog_path,
            jobs=jobs,
            rebuild=rebuild,
            on_progress=on_progress,
        )
    print_summary(report, console)
    return report


def print_summary(report: IndexReport, console: Console) -> None:
    if report.set_aside:
        console.print(f"The damaged catalog was set aside as {markup(report.set_aside)}.")
    for rows, title in (
        (report.failures, f"{len(report.failures)} file(s) skipped"),
        (report.failed_before, f"{len(report.failed_before)} file(s) failed before, unchanged"),
    ):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("reason", overflow="fold")
        for path, reason in rows:  # Text: shown as is, never read as markup
            table.add_row(Text(clean(path)), Text(clean(reason)))
        console.print(table)
    rate = report.indexed / report.seconds if report.seconds else 0.0
    speed = report.audio_seconds / report.seconds if report.seconds else 0.0
    console.print(
        f"{report.found} media files: {report.indexed} indexed, {report.unchanged} unchanged, "
        f"{report.removed} removed, {len(report.failures)} failed"
        + (f" ({len(report.failed_before)} more as before)" if report.failed_before else "")
        + f", in {report.seconds:.1f} s "
        f"({rate * 60:.1f} tracks/min, {speed:.0f}x real time). "
        f"Catalog {markup(report.catalog_dir)}: {report.tracks_in_catalog} tracks; "
        f"index {report.index_status}."
    )


def print_info(summary: dict[str, Any], catalog_dir: Path) -> None:
    console = Console()
    console.print(f"[bold]catalog[/] {markup(catalog_dir)}")
    for key in ("tracks", "failures", "dim", "encoder"):
        console.print(f"  {key}: {markup(summary.get(key))}")
    console.print(f"  index: {markup(summary.get('index'))}")
    for vocab, rows in (summary.get("tags") or {}).items():
        top = ", ".join(f"{r['tag']} ({r['count']})" for r in rows[:12])
        console.print(f"  top {markup(vocab)} tags: {markup(top)}")
