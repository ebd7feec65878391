"""What the three command-line tools share: the config flags, and turning MuseChat's typed
errors into one clear line on stderr (never a traceback) with a non-zero exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from musechat_tui.config import Settings, load_settings
from musechat_tui.errors import MuseChatError
from musechat_tui.sanitize import terminal

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML config file (default: config.toml in the user config dir).",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data folder for catalogs, sessions and models.", show_default=False
    ),
]
CatalogOpt = Annotated[
    Path | None,
    typer.Option(
        "--catalog", help="Catalog folder (default: DATA_DIR/catalog).", show_default=False
    ),
]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="CPU threads for the encoders.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings_from_flags(config: Path | None = None, **flags: Any) -> Settings:
    """CLI flags are the top layer; unset flags (None) leave the lower layers in charge."""
    return load_settings(config, **flags)


def reports_errors(func: F) -> F:
    """Wrap a command: a MuseChatError becomes 'error: <message>' and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MuseChatError as exc:
            typer.echo(f"error: {terminal(exc)}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def say(text: object, err: bool = False) -> None:
    """One piece of a command's human output: names and tags from files are made safe
    for the terminal (see musechat_tui.sanitize); `--json` output never goes through here."""
    typer.echo(terminal(text), err=err)
