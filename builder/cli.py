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
    say,
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
    """Check SQLite integrity and that the HNSW index matches the database. --repair
    rebuilds the index, and recovers a damaged database (the readable rows into a fresh
    catalog; the damaged file is kept aside)."""
    from musechat_tui.catalog import Catalog, CatalogDamagedError
    from musechat_tui.catalog import repair as repair_index
    from musechat_tui.catalog import verify as verify_catalog
    from musechat_tui.catalog.recover import recover

    settings = settings_from_flags(config, data_dir=data_dir, catalog_dir=catalog)
    directory = settings.catalog_path
    recovery = None
    try:
        with Catalog.open(directory, readonly=not repair) as cat:
            problems = verify_catalog(cat)
            repaired = repair_index(cat) if repair and problems else None
            remaining = verify_catalog(cat) if repaired else problems
    except CatalogDamagedError as exc:
        problems, repaired, remaining = [str(exc)], None, [str(exc)]
        if repair:
            recovery = recover(directory)  # a CatalogError when nothing can be read
            lost = sum(recovery.unreadable_rows.values())
            repaired = (
                f"recovered {recovery.tracks} tracks ({lost} unreadable rows lost); the "
                f"damaged file is kept as {recovery.kept_aside}; index {recovery.index}"
            )
            with Catalog.open(directory, readonly=True) as cat:
                remaining = verify_catalog(cat)
    if json_out:
        print_json(
            {
                "ok": not remaining,
                "problems": problems,
                "repaired": repaired,
                "remaining": remaining,
                "recovery": recovery.as_dict() if recovery else None,
            }
        )
    else:
        for p in problems:
            say(f"problem: {p}")
        if repaired:
            say(f"repaired: {repaired}")
        say("catalog OK" if not remaining else f"{len(remaining)} problem(s) remain")
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
        say(f"{i:>2}. {h['score']:.3f}  {h['artist'] or '?'} - {h['title']}  [{tags}]")


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


@app.command()
@reports_errors
def synth(
    videos: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of music videos (their own audio is the target music), or a "
            ".jsonl/.csv list of (video, music) pairs. With --synthetic: where the synthetic "
            "videos are written (default: OUT/videos).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Dataset folder to write (or resume).")
    ] = ...,  # type: ignore[assignment]
    synthetic: Annotated[
        int | None,
        typer.Option(
            "--synthetic",
            min=1,
            help="First make this many audio-driven visualiser videos from --music (a "
            "synthetic corpus; the manifest says so).",
            show_default=False,
        ),
    ] = None,
    music: Annotated[
        Path | None,
        typer.Option("--music", help="Music library for --synthetic.", show_default=False),
    ] = None,
    synthetic_seconds: Annotated[
        float, typer.Option("--synthetic-seconds", min=2, help="Longest synthetic video (s).")
    ] = 120.0,
    synthetic_fps: Annotated[
        int, typer.Option("--synthetic-fps", min=1, max=60, help="Frame rate of synthetic videos.")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, pools and phrasing.")] = 0,
    test_fraction: Annotated[
        float,
        typer.Option("--test-fraction", min=0.0, max=0.9, help="Share of items in the test split."),
    ] = 0.1,
    train_pool: Annotated[
        int,
        typer.Option("--train-pool", min=1, help="Candidate pool size for train (paper: 2000)."),
    ] = 2000,
    test_pool: Annotated[
        int, typer.Option("--test-pool", min=1, help="Candidate pool size for test (paper: 500).")
    ] = 500,
    rank_window: Annotated[
        tuple[int, int],
        typer.Option(
            "--rank-window",
            help="The candidate is drawn among these ranks of the base scorer (1-based, "
            "inclusive; cut to the pool's size).",
        ),
    ] = (2, 20),
    generator: Annotated[
        str,
        typer.Option(
            "--generator",
            help="Who writes the conversations: 'offline' (templates from the facts) or "
            "'openai' (the paper's prompt through an OpenAI-compatible endpoint).",
        ),
    ] = "offline",
    openai_url: Annotated[
        str | None,
        typer.Option(
            "--openai-url",
            help="OpenAI-compatible base URL (key: OPENAI_API_KEY).",
            show_default=False,
        ),
    ] = None,
    openai_model: Annotated[
        str | None,
        typer.Option("--openai-model", help="Model name at the endpoint.", show_default=False),
    ] = None,
    llm_rpm: Annotated[
        float | None,
        typer.Option(
            "--llm-rpm",
            min=0.1,
            help="Most requests a minute (default: no limit).",
            show_default=False,
        ),
    ] = None,
    llm_retries: Annotated[
        int, typer.Option("--llm-retries", min=0, help="Retries of a failing request.")
    ] = 5,
    llm_workers: Annotated[
        int, typer.Option("--llm-workers", min=1, help="Requests in flight at once.")
    ] = 2,
    llm_timeout: Annotated[
        float, typer.Option("--llm-timeout", min=1, help="Seconds before a request times out.")
    ] = 120.0,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature.")
    ] = 0.7,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=32, help="Longest answer in tokens.")
    ] = 400,
    prompt_template: Annotated[
        Path | None,
        typer.Option(
            "--prompt-template",
            help="Prompt template file (default: data/prompts/musechat_figure6.txt).",
            show_default=False,
        ),
    ] = None,
    llm_cache: Annotated[
        Path | None,
        typer.Option(
            "--llm-cache",
            help="Answer cache folder (default: OUT/.synth/llm_cache).",
            show_default=False,
        ),
    ] = None,
    attempts: Annotated[
        int,
        typer.Option("--attempts", min=1, help="Generations per conversation before dropping it."),
    ] = 3,
    fallback: Annotated[
        bool,
        typer.Option(
            "--fallback-offline",
            help="When the endpoint's conversation is still invalid after --attempts, write "
            "it offline instead of dropping it (counted as fallback; the quartet says so).",
        ),
    ] = False,
    fps: Annotated[
        float | None,
        typer.Option(
            "--fps", min=0.1, max=60, help="Video frames per second (paper: 5).", show_default=False
        ),
    ] = None,
    jobs: JobsOpt = 1,
    shard_items: Annotated[
        int, typer.Option("--shard-items", min=1, help="Media items per feature shard.")
    ] = 64,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Discard earlier work in OUT and start over (the LLM answer cache is kept).",
        ),
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build the conversational dataset of the paper (§3): per music video the central
    120 s as 10 s segments, video-frame and music features in safetensors shards, a
    candidate from a pool ranked by a base scorer, a two-turn conversation (validated), and
    JSONL quartets with a fixed-seed train/test split plus a manifest. Resumable: rerun the
    same command after an interruption."""
    import time

    from rich.console import Console

    from builder.synth.display import print_summary, progress_bars
    from builder.synth.pipeline import Synth, SynthOptions
    from musechat_tui.errors import MuseChatError
    from musechat_tui.sanitize import markup

    if generator not in ("offline", "openai"):
        raise MuseChatError(f"--generator must be 'offline' or 'openai', not {generator!r}")
    if rank_window[0] < 1 or rank_window[1] < rank_window[0]:
        raise MuseChatError(f"--rank-window {rank_window[0]} {rank_window[1]}: need 1 <= LO <= HI")
    settings = settings_from_flags(config, data_dir=data_dir, threads=threads, fps=fps)
    console = Console(stderr=True, quiet=json_out)
    with progress_bars(console) as on_progress:
        if synthetic:
            from builder.synth.visualiser import make_synthetic_corpus

            if music is None:
                raise MuseChatError("--synthetic needs --music MUSIC_DIR (a music library)")
            videos = videos or out / "videos"
            t0 = time.perf_counter()
            made, failed = make_synthetic_corpus(
                music,
                videos,
                synthetic,
                seconds=synthetic_seconds,
                fps=synthetic_fps,
                seed=seed,
                jobs=max(1, jobs),
                on_progress=lambda d, t, c: on_progress("synthetic", d, t, c),
            )
            synthetic_seconds_taken = round(time.perf_counter() - t0, 2)
            for path, reason in failed:
                console.print(
                    f"[yellow]no synthetic video from[/] {markup(path)}: {markup(reason)}"
                )
        if videos is None:
            raise MuseChatError("give VIDEOS (a folder or pair list), or --synthetic N --music DIR")
        options = SynthOptions(
            source=videos,
            out=out,
            seed=seed,
            test_fraction=test_fraction,
            pool_sizes={"train": train_pool, "test": test_pool},
            rank_window=rank_window,
            generator=generator,
            openai_url=openai_url,
            openai_model=openai_model,
            llm_rpm=llm_rpm,
            llm_retries=llm_retries,
            llm_workers=llm_workers,
            llm_timeout=llm_timeout,
            temperature=temperature,
            max_tokens=max_tokens,
            prompt_template=prompt_template,
            llm_cache=llm_cache,
            attempts=attempts,
            fallback=fallback,
            jobs=jobs,
            shard_items=shard_items,
            synthetic=bool(synthetic),
            restart=restart,
        )
        report = Synth(settings, options, on_progress).run()
        if synthetic:
            report.synthetic_videos = len(made)
            report.seconds["synthetic_videos"] = synthetic_seconds_taken
    print_summary(report, console)
    if json_out:
        print_json(report.as_dict())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
