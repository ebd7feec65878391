"""Terminal output of `synth`: one progress bar per stage (items/s and ETA) on stderr, and
the end-of-run summary with the statistics. With --json stdout carries only the JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from builder.synth.pipeline import SynthReport
from musechat_tui.sanitize import markup

STAGES = {
    "synthetic": "making videos",
    "hashing": "reading corpus",
    "features": "features",
    "candidates": "candidates",
    "conversations": "conversations",
    "tokens": "t3 tokens",
}


class ItemsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "-/s", style="progress.data.speed")


@contextmanager
def progress_bars(console: Console) -> Iterator[Callable[[str, int, int, str], None]]:
    progress = Progress(
        TextColumn("{task.description:<15}"),
        BarColumn(),
        MofNCompleteColumn(),
        ItemsPerSecond(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int, current: str) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(STAGES.get(stage, stage), total=total, current="")
        progress.update(tasks[stage], completed=done, total=total, current=Path(current).name[:40])

    with progress:
        yield update


def print_summary(report: SynthReport, console: Console) -> None:
    c = report.counts
    s = report.stats
    for f in report.failures[:20]:
        console.print(f"[yellow]skipped[/] {markup(f['path'])}: {markup(f['reason'])}")
    if len(report.failures) > 20:
        console.print(f"... and {len(report.failures) - 20} more (stats.json lists them all)")
    console.print(
        f"{report.entries} corpus entries: {report.media_encoded} media encoded, "
        f"{report.media_reused} reused; {len(report.failures)} failed."
    )
    console.print(
        f"quartets: {c.get('train', 0)} train, {c.get('test', 0)} test; conversations by "
        f"{report.generator}: {report.conversations_made} made, {report.conversations_reused} "
        f"reused, {c.get('regenerated', 0)} regenerated, {c.get('fallback', 0)} written "
        f"offline after the endpoint failed, {c.get('dropped', 0)} dropped; "
        f"{c.get('no_candidate', 0)} without a candidate."
    )
    if report.llm:
        console.print("LLM: " + ", ".join(f"{k} {v}" for k, v in report.llm.items()))
    rank = s.get("candidate_rank", {})
    base = s.get("base_scorer_target_rank", {})
    if rank:
        console.print(
            f"candidate rank: median {rank.get('median')} (window {rank.get('min')}.."
            f"{rank.get('max')}); pool size median {s.get('pool_size', {}).get('median')}; "
            f"base scorer puts the original at median rank {base.get('median')} "
            f"(R@10 {base.get('R@10')}, chance {base.get('chance', {}).get('R@10')})."
        )
    for vocab, tags in s.get("target_tags", {}).items():
        top = ", ".join(f"{t} ({n})" for t, n in list(tags.items())[:8])
        console.print(f"top {vocab} tags: {top}")
    console.print(
        f"{report.seconds.get('total', 0):.1f} s, {report.items_per_min:.1f} quartets/min. "
        f"Dataset: {report.out}"
    )
