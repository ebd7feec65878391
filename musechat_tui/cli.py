"""musechat-tui: music for a video, in a conversation.

Scripted (no UI):
    musechat-tui VIDEO --ask "no drums" --ask "slower" --json
    musechat-tui VIDEO --ask "calm piano" --export out.mp4 --mode duck
turn 1 is the video alone, each --ask one more turn; --json prints one object
{"session", "video", "turns": [{"turn", "user", "recommendations": [...], "explanation"}]}
(and "export" with --export: the last turn's accepted track, else its top pick, under the
video).
Sessions are saved in the data dir: --list-sessions shows them, --resume ID continues one.
Without --ask and --json, turn 1 is printed for people (the chat app will start here).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Annotated, Any

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
from musechat_tui.config import ExportModeChoice
from musechat_tui.errors import MuseChatError

app = typer.Typer(
    help="Music for your video, in a conversation.", add_completion=False, no_args_is_help=True
)

VideoArg = Annotated[
    Path | None,
    typer.Argument(help="The video to find music for.", show_default=False),
]
AskOpt = Annotated[
    list[str] | None,
    typer.Option("--ask", help="One refinement turn (repeatable), e.g. --ask 'slower, no vocals'."),
]
TopKOpt = Annotated[
    int | None, typer.Option("--top-k", min=1, max=100, help="Recommendations per turn.")
]
ResumeOpt = Annotated[
    str | None, typer.Option("--resume", help="Continue a saved session (see --list-sessions).")
]
ListOpt = Annotated[bool, typer.Option("--list-sessions", help="List saved sessions and exit.")]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="Trained recommender checkpoint (default: DATA_DIR/models/recommender.pt if "
        "present, else the zero-shot scorer).",
        show_default=False,
    ),
]
ExplainerOpt = Annotated[
    str | None,
    typer.Option(
        "--explainer",
        help="auto, llama, openai or template (default: the `explainer` setting).",
        show_default=False,
    ),
]
NoExplainOpt = Annotated[bool, typer.Option("--no-explain", help="Skip explanations.")]
DemoOpt = Annotated[
    bool,
    typer.Option("--demo", help="Chat on the demo catalog and video (`musechat-builder demo`)."),
]

ExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="After the turns, write the video with the accepted track (else the last turn's "
        "top pick) under it to this file (or into this folder).",
        show_default=False,
    ),
]


ModeOpt = Annotated[
    ExportModeChoice | None,
    typer.Option(
        "--mode",
        help="Export: replace the video's own sound, mix the music under it, or duck the "
        "music under its speech (default: the `export_mode` setting; auto: duck when the video "
        "has sound).",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Export: replace an existing file without asking.")
]


class UsageError(MuseChatError):
    pass


@app.command()
@reports_errors
def chat(
    video: VideoArg = None,
    ask: AskOpt = None,
    json_out: JsonOpt = False,
    resume: ResumeOpt = None,
    list_sessions: ListOpt = False,
    catalog: CatalogOpt = None,
    checkpoint: CheckpointOpt = None,
    top_k: TopKOpt = None,
    explainer: ExplainerOpt = None,
    no_explain: NoExplainOpt = False,
    demo: DemoOpt = False,
    export: ExportOpt = None,
    mode: ModeOpt = None,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Chat about music for VIDEO in the terminal app. With --ask or --json, or when not
    run in a terminal, run the turns without the app (turn 1 from the video alone, then
    one turn per --ask) and print them."""
    settings = settings_from_flags(
        config,
        data_dir=data_dir,
        catalog_dir=catalog,
        threads=threads,
        top_k=top_k,
        explainer=explainer,
    )
    if list_sessions:
        from musechat_tui.engine.session import SessionStore

        with SessionStore.in_data_dir(settings.data_dir) as store:
            _print_sessions(store.list(), json_out)
        return
    if resume and catalog is None:  # the session's own catalog, unless --catalog says
        from musechat_tui.engine.session import resume_settings

        settings = resume_settings(settings, resume)
    # The app needs a terminal; piped or scripted runs get the turns as text instead.
    if not ask and not json_out and export is None and sys.stdin.isatty() and sys.stdout.isatty():
        from musechat_tui.app import run_app

        raise typer.Exit(run_app(settings, video, resume=resume, demo=demo, checkpoint=checkpoint))
    if video is None and resume is None:
        raise UsageError("give a VIDEO, or --resume ID (see --list-sessions)")
    from musechat_tui.engine import ChatEngine

    with ChatEngine(settings, checkpoint=checkpoint) as engine:
        if resume:
            session = engine.resume(resume)
            if video is not None and Path(video).resolve() != Path(session.video.path).resolve():
                engine.notes.append(
                    f"--resume keeps the session's video {session.video.path}; {video} ignored"
                )
            first_new = len(session.turns) + 1
        else:
            session = engine.start(Path(video))  # type: ignore[arg-type]
            first_new = 1
        asks: list[str | None] = list(ask or [])
        if not session.turns:
            asks.insert(0, None)
        for text in asks:
            engine.run_turn(session, text, explain=not no_explain)
        out = session.to_dict()
        if export is not None:
            out["export"] = _export(engine, session, export, mode, overwrite, json_out)
        if engine.notes:
            out["notes"] = list(engine.notes)
        if json_out:
            print_json(out)
        else:
            _print_human(out, first_new if resume else 1)


def _export(
    engine: Any, session: Any, target: Path, mode: str | None, overwrite: bool, json_out: bool
) -> dict[str, Any]:
    """Export the session's pick; asks before replacing a file when a person is there."""
    from musechat_tui.export import ExportExistsError, default_export_path, export_session

    track_id = session.export_pick()
    if track_id is None:
        raise UsageError("nothing to export: the session has no recommendations")
    record = engine.catalog.get_track(track_id, segments=True)
    if record is None:
        raise MuseChatError(f"track {track_id} is no longer in the catalog; run another turn")
    if target.is_dir():
        target = target / default_export_path(session.video.path).name
    people = not json_out and sys.stdin.isatty() and sys.stderr.isatty()
    if target.exists() and not overwrite:
        if not people:
            raise ExportExistsError(target)
        if not typer.confirm(f"{target} already exists. Replace it?", err=True):
            raise typer.Exit(1)
        overwrite = True
    with contextlib.ExitStack() as stack:
        progress = None
        if people:  # a progress bar on stderr
            from rich.console import Console
            from rich.progress import Progress

            bar = stack.enter_context(Progress(console=Console(stderr=True), transient=True))
            task = bar.add_task(f"exporting {target.name}", total=1.0)
            progress = functools.partial(_advance, bar, task)
        result = export_session(
            engine.settings,
            session,
            record,
            target,
            mode=mode,
            overwrite=overwrite,
            progress=progress,
        )
    return {
        "path": str(result.path),
        "track_id": track_id,
        "title": record.title,
        "mode": result.mode,
        "music_start": round(result.music_start, 3),
        "loops": result.loops,
        "lufs": round(result.lufs, 2),
        "true_peak_dbtp": round(result.true_peak_dbtp, 2),
        "notes": result.notes,
    }


def _advance(bar: Any, task: Any, share: float) -> None:
    bar.update(task, completed=share)


def _print_sessions(rows: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        print_json(rows)
        return
    if not rows:
        say("no saved sessions")
        return
    for r in rows:
        last = f" — last: “{r['last_ask']}”" if r["last_ask"] else ""
        say(f"{r['id']}  {r['updated_at']}  {r['turns']} turn(s)  {Path(r['video']).name}{last}")


def _print_human(out: dict[str, Any], from_turn: int) -> None:
    w = say
    w(f"Session {out['session']}  ·  {Path(out['video']).name}  ·  scorer: {out['scorer']}")
    for note in out.get("notes", []):
        w(f"  note: {note}")
    for turn in out["turns"]:
        if turn["turn"] < from_turn:
            continue
        head = "the video alone" if turn["user"] is None else f"“{turn['user']}”"
        w(f"\nTurn {turn['turn']}: {head}")
        if turn["understood"]:
            w(f"  understood: {', '.join(turn['understood'])}")
        for note in turn["notes"]:
            w(f"  note: {note}")
        for i, r in enumerate(turn["recommendations"], 1):
            by = f"{r['artist']} – " if r["artist"] else ""
            bpm = f"{r['bpm']:.0f} bpm" if r["bpm"] else "tempo ?"
            mins, secs = divmod(int(round(r["duration"])), 60)
            tags = ", ".join(r["tags"][:5])
            w(f"  #{i}  {by}{r['title']}  ({mins}:{secs:02d}, {bpm})  {tags}")
        if turn["explanation"]:
            w(f"  why #1: {turn['explanation']}")
    if "export" in out:
        e = out["export"]
        loops = f", looped {e['loops']}x" if e["loops"] else ""
        w(
            f"\nExported {e['path']}: “{e['title']}” ({e['mode']}, {e['lufs']:.1f} LUFS, "
            f"true peak {e['true_peak_dbtp']:.1f} dBTP{loops})"
        )
        for note in e["notes"]:
            w(f"  note: {note}")


def main() -> None:
    app(prog_name="musechat-tui")


if __name__ == "__main__":
    sys.exit(main())
