"""musechat-builder: builds MuseChat's music catalog and conversational dataset offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from musechat_tui.cli_support import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    ThreadsOpt,
    print_json,
    reports_errors,
    settings_from_flags,
)

app = typer.Typer(
    help="Build MuseChat's music catalog and conversational dataset, offline.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps the tool a group of subcommands even while it has only one."""


@app.command()
@reports_errors
def demo(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the demo media (default: DATA_DIR/demo).", show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build the embedded demo (a real music library rendered from music21's corpus plus
    Debian's drascula-music soundtrack, and videos made from real photos) and analyse it:
    every track's tags, tempo and loudness, and what each video shows."""
    from builder.demo import run_demo

    settings = settings_from_flags(config, data_dir=data_dir, threads=threads)
    report = run_demo(settings, out or settings.data_dir / "demo", quiet=json_out)
    if json_out:
        print_json(report)


def main() -> None:
    app()
