"""Chat app benchmark: how soon a user sees something, and whether the UI stays live.

Each run is a fresh Python process (a cold launch, as from the shell) that runs the app
headless with Textual's pilot on the demo (catalog + a demo video) and records, from the
moment the process started:
- first screen: the chat screen is composed and shown (nothing heavy imported yet);
- catalog checked, models loaded (text encoder, scorer), video analysed (frames + image
  encoder), first recommendation on screen, its explanation finished;
- a key typed while the video is analysed: time until it shows in the input;
- UI stalls: the longest gap of a 20 ms UI timer during startup (the event loop is never
  blocked by the work in the workers if this stays small).

    nice .venv/bin/python bench/bench_app.py [--demo DIR] [--runs 3] [--explainer template]

--demo is a folder with catalog/ and videos/ as `musechat-builder demo` makes it
(default: /tmp/mcdemo/demo); --video a file in its videos/ or any path (the first-turn
bench's 2-minute 720p video, say). --explainer auto includes the LLM explanation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_DEMO = Path("/tmp/mcdemo/demo")
MILESTONES = (
    ("process start -> first screen", "first_screen"),
    ("  of which: import of the app", "imported"),
    ("catalog checked", "catalog"),
    ("models loaded", "models"),
    ("video analysed", "analysed"),
    ("first recommendation shown", "first_rec"),
    ("first words of its explanation shown", "first_words"),
    ("  after the recommendation", "words_after_rec"),
    ("explanation finished", "explained"),
    ("key while analysing -> in the input (worst of 5)", "key_latency"),
    ("longest UI stall during startup", "max_stall"),
)


def child(demo: Path, video: str, explainer: str, threads: int) -> None:
    """One cold launch; prints a JSON line of seconds since the process started."""
    t0 = time.perf_counter() - _since_process_start()
    from musechat_tui.app.app import create_app
    from musechat_tui.app.manager import ChatManager

    imported = time.perf_counter() - t0
    import asyncio

    from textual import events

    from musechat_tui.config import load_settings

    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    settings = load_settings(
        work / "none.toml",
        data_dir=work / "data",
        catalog_dir=demo / "catalog",
        explainer=explainer,
        threads=threads,
    )
    out: dict[str, float | None] = {"imported": imported}

    class Timed(ChatManager):
        """Stamps the end of each step the workers run."""

        def check_catalog(self) -> Path:
            result = super().check_catalog()
            out.setdefault("catalog", time.perf_counter() - t0)
            return result

        def open(self) -> list[str]:
            result = super().open()
            out.setdefault("models", time.perf_counter() - t0)
            return result

        def analyse(self, path: Path) -> Any:
            result = super().analyse(path)
            out.setdefault("analysed", time.perf_counter() - t0)
            return result

    app = create_app(settings, demo / "videos" / video, manager=Timed(settings), animations=False)

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            out["first_screen"] = time.perf_counter() - t0
            screen = app.chat_screen
            last = time.perf_counter()
            stall = 0.0

            def tick() -> None:
                nonlocal last, stall
                now = time.perf_counter()
                if now - last > stall:
                    stall = now - last
                    out["stall_at"] = now - t0  # when it ended (to tell which step it was)
                last = now

            app.set_interval(0.02, tick)
            typed = False
            end = time.perf_counter() + 900
            while time.perf_counter() < end:
                now = time.perf_counter() - t0
                if (
                    not typed
                    and "analysing the video" in screen.status_text().plain
                    and app.focused is screen.prompt
                ):
                    typed = True
                    # Straight to the driver, as a terminal would send it (pilot.press
                    # also waits for the whole process to go idle, which the busy
                    # workers never let it do).
                    lags = []
                    for _ in range(5):
                        before = screen.prompt.value
                        key = events.Key("x", "x")
                        key.set_sender(app)
                        k0 = time.perf_counter()
                        app._driver.send_message(key)
                        while screen.prompt.value == before:
                            await asyncio.sleep(0.001)
                        lags.append(time.perf_counter() - k0)
                        await asyncio.sleep(0.1)
                    out["key_latency"] = max(lags)
                    screen.prompt.value = ""
                if "first_rec" not in out and screen.table.row_count:
                    out["first_rec"] = now
                msg = screen.chat.turn_message(1)
                if msg is not None and msg.explanation and "first_words" not in out:
                    out["first_words"] = now
                    if "first_rec" in out:
                        out["words_after_rec"] = now - out["first_rec"]
                if msg is not None and msg.done:
                    out["explained"] = now
                    break
                await pilot.pause(0.01)
            out["max_stall"] = stall
            app.exit()

    asyncio.run(run())
    print(json.dumps(out))


def _since_process_start() -> float:
    """Seconds since this process started (from /proc), so interpreter start-up counts."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = ticks / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - boot)
    except (OSError, ValueError, IndexError):
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=DEFAULT_DEMO)
    ap.add_argument("--video", default="cosy_morning.mp4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--explainer", default="template")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.demo, args.video, args.explainer, args.threads)
        return
    if not (args.demo / "catalog").is_dir():
        sys.exit(f"no demo at {args.demo}: run `musechat-builder demo` first")
    runs = []
    for i in range(args.runs):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--demo",
                str(args.demo),
                "--video",
                args.video,
                "--explainer",
                args.explainer,
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "TEXTUAL_ANIMATIONS": "none"},
        )
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items() if v))
    print(
        f"\nMuseChat app on the demo ({args.video}, explainer {args.explainer}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs, {args.runs} cold launches)\n"
    )
    print(f"{'milestone (seconds from launch)':48} {'median':>8} {'min':>8} {'max':>8}")
    for label, key in MILESTONES:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            print(f"{label:48} {'-':>8}")
            continue
        med, lo, hi = statistics.median(values), min(values), max(values)
        ms = key in ("key_latency", "max_stall", "words_after_rec")
        scale, unit = (1000.0, " ms") if ms else (1.0, "")
        print(f"{label:48} {med * scale:>8.2f} {lo * scale:>8.2f} {hi * scale:>8.2f}{unit}")


if __name__ == "__main__":
    main()
