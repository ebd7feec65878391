"""musechat-builder: builds MuseChat's music catalog and conversational dataset offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from musechat_tui.cli_support import (
    CatalogOpt,
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


MusicDirArg = Annotated[
    Path, typer.Argument(help="Music folder to index (searched recursively).", show_default=False)
]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Drop the catalog's tracks and start over.")
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", min=0, help="Decoder processes running ahead of the encoder (0: none)."
    ),
]


@app.command()
@reports_errors
def index(
    music_dir: MusicDirArg,
    catalog: CatalogOpt = None,
    jobs: JobsOpt = 1,
    rebuild: RebuildOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Index a music folder into the catalog: new and changed files are analysed, unchanged
    ones skipped, deleted ones dropped. Safe to interrupt and rerun."""
    from builder.progress import index_with_progress

    settings = settings_from_flags(config, data_dir=data_dir, catalog_dir=catalog, threads=threads)
    report = index_with_progress(settings, music_dir, jobs=jobs, rebuild=rebuild)
    if json_out:
        print_json(report.as_dict())


@app.command()
@reports_errors
def info(
    catalog: CatalogOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a catalog: tracks, failures, embedding dim, encoder, index state, top tags."""
    from musechat_tui.catalog import Catalog

    settings = settings_from_flags(config, data_dir=data_dir, catalog_dir=catalog)
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        summary = cat.info()
    if json_out:
        print_json(summary)
        return
    from builder.progress import print_info

    print_info(summary, settings.catalog_path)


@app.command()
@reports_errors
def verify(
    catalog: CatalogOpt = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild the HNSW index from the database.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check SQLite integrity and that the HNSW index matches the database."""
    from musechat_tui.catalog import Catalog
    from musechat_tui.catalog import repair as repair_index
    from musechat_tui.catalog import verify as verify_catalog

    settings = settings_from_flags(config, data_dir=data_dir, catalog_dir=catalog)
    with Catalog.open(settings.catalog_path, readonly=not repair) as cat:
        problems = cat.check_integrity() + verify_catalog(cat)
        repaired = repair_index(cat) if repair and problems else None
        remaining = (cat.check_integrity() + verify_catalog(cat)) if repaired else problems
    if json_out:
        print_json(
            {
                "ok": not remaining,
                "problems": problems,
                "repaired": repaired,
                "remaining": remaining,
            }
        )
    else:
        for p in problems:
            typer.echo(f"problem: {p}")
        if repaired:
            typer.echo(f"repaired: {repaired}")
        typer.echo("catalog OK" if not remaining else f"{len(remaining)} problem(s) remain")
    if remaining:
        raise typer.Exit(1)


@app.command()
@reports_errors
def search(
    query: Annotated[str, typer.Argument(help='What to look for, in words ("calm piano").')],
    k: Annotated[int, typer.Option("-k", min=1, help="Number of tracks to show.")] = 10,
    catalog: CatalogOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find tracks by a description in words: for scripting and checking a catalog by hand."""
    from builder.text_search import search_catalog

    settings = settings_from_flags(config, data_dir=data_dir, catalog_dir=catalog)
    hits = search_catalog(settings, query, k)
    if json_out:
        print_json(hits)
        return
    for i, h in enumerate(hits, 1):
        tags = ", ".join(h["tags"][:5])
        typer.echo(f"{i:>2}. {h['score']:.3f}  {h['artist'] or '?'} - {h['title']}  [{tags}]")


@app.command()
@reports_errors
def demo(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build the embedded demo in DATA_DIR/demo: a real music library (music21's corpus
    rendered with fluidsynth, plus Debian's drascula-music soundtrack), videos made from
    real photos, and the demo catalog (DATA_DIR/demo/catalog unless --catalog); then show
    every track's tags, tempo and loudness, what each video shows, and a text search."""
    from builder.demo import demo_dir, run_demo

    settings = settings_from_flags(config, data_dir=data_dir, threads=threads)
    out = demo_dir(settings)
    settings = settings.model_copy(update={"catalog_dir": catalog or out / "catalog"})
    report = run_demo(settings, out, quiet=json_out)
    if json_out:
        print_json(report)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
