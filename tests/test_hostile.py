"""Hostile names, special files and damaged catalogs, through the real commands: a name
that is not UTF-8, a FIFO, a link to /dev/zero, names and tags full of terminal escapes
(read back through a pseudo-terminal), a catalog with bytes overwritten mid-file, a
zero-byte and an empty catalog, a SIGKILLed indexer, truncated and silent files. Each
asserts the exact outcome: indexed or reported by name, no hang (bounded subprocess
timeouts), no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from builder.parallel import map_ahead
from musechat_tui.catalog import Catalog
from musechat_tui.config import load_settings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "MUSECHAT_EXPLAINER": "template"}  # the default 5 s minimum
BAD = b"bad_utf8_\xff\xfe.ogg"
EVIL = "evil \x1b]0;PWNED\x07\x1b[2J\u202etxet \x9b31m.ogg"
TIMEOUT = 300  # a hang fails the test instead of stalling the suite

pytestmark = pytest.mark.slow  # real commands in subprocesses


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        cwd=REPO,
        env=env or ENV,
        timeout=TIMEOUT,
    )


def through_pty(*args: str) -> bytes:
    """What the command writes to a terminal (stdout and stderr on one pseudo-terminal)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / args[0]), *args[1:]],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=REPO,
        env={**ENV, "TERM": "xterm-256color", "COLUMNS": "250"},
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(TIMEOUT)
    os.close(leader)
    return out


# What rich itself writes to a terminal: colours (SGR), erasing and moving within the line,
# the cursor hidden and shown. Anything else came from a file.
RICH_OWN = re.compile(rb"\x1b\[[0-9;?]*[mKAGhl]")


def assert_terminal_safe(out: bytes) -> None:
    assert b"PWNED" not in out and b"\x07" not in out, out
    assert "\u202e".encode() not in out and b"\xc2\x9b" not in out  # bidi, 8-bit CSI
    stray = [m for m in re.findall(rb"\x1b.{0,12}", out, re.S) if not RICH_OWN.match(m)]
    assert stray == [], stray
    assert b"Traceback" not in out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    music = root / "music"
    music.mkdir()
    mf.make_chord(music / "good.ogg", (262.0, 330.0, 392.0), duration=12)
    bad = mf.make_chord(music / "bad.ogg", (220.0, 277.0, 330.0), duration=12)
    os.rename(bad, os.fsencode(music) + b"/" + BAD)
    (Path(os.fsdecode(os.fsencode(music) + b"/empty_\xff.mp3"))).write_bytes(b"")
    mf.make_chord(music / EVIL, (196.0, 247.0, 294.0), duration=12, tags={"title": EVIL})
    os.mkfifo(music / "fifo.ogg")
    os.symlink("/dev/zero", music / "zero.wav")
    # Quieter problems: a truncated track (its first 20 KB), a 1 s silent file and a
    # 3-minute silent one.
    for ext in ("mp3", "ogg"):
        whole = mf.make_chord(root / f"whole.{ext}", (300.0, 400.0), duration=60)
        (music / f"cut.{ext}").write_bytes(whole.read_bytes()[:20_000])
    mf.write_audio(music / "short silence.flac", np.zeros(16_000, np.float32), 16_000)
    mf.write_audio(music / "long silence.flac", np.zeros(180 * 16_000, np.float32), 16_000)
    catalog = root / "catalog"
    args = ("musechat-builder", "index", str(music), "--catalog", str(catalog))
    first = run(*args, "--json", "--data-dir", str(root / "data"))
    return {"root": root, "music": music, "catalog": catalog, "first": first}  # type: ignore[dict-item]


def test_index_takes_any_name_and_reports_special_files(hostile: dict) -> None:
    done = hostile["first"]
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    report = json.loads(done.stdout)
    # JSON is exact: the non-UTF-8 name comes back as its very bytes (surrogate escapes).
    paths = {os.fsencode(p).rsplit(b"/", 1)[1] for p in _catalog_paths(hostile["catalog"])}
    assert paths == {b"good.ogg", BAD, os.fsencode(EVIL)}
    reasons = {os.fsencode(f["path"]).rsplit(b"/", 1)[1]: f["reason"] for f in report["failures"]}
    assert reasons[b"fifo.ogg"] == "a FIFO, not a media file: skipped"
    assert reasons[b"zero.wav"] == "a device, not a media file: skipped"
    assert reasons[b"empty_\xff.mp3"] == "file is empty (0 bytes)"
    # A cut mp3 still states its length (a truncated decode); a cut Ogg does not (too short).
    assert "truncated" in reasons[b"cut.mp3"]
    assert reasons[b"cut.ogg"].startswith(("truncated", "too short to score"))
    assert reasons[b"short silence.flac"].startswith("too short to score: 1.0 s")
    assert reasons[b"long silence.flac"] == "silent (no signal): nothing to recommend"
    assert report["indexed"] == 3 and report["failed"] == 7


def test_a_rerun_lists_what_failed_before(hostile: dict) -> None:
    again = run(
        "musechat-builder", "index", str(hostile["music"]), "--catalog", str(hostile["catalog"]),
        "--json",
    )  # fmt: skip
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert report["unchanged"] == 3 and report["indexed"] == 0
    before = {os.fsencode(f["path"]).rsplit(b"/", 1)[1] for f in report["failed_before"]}
    assert before == {
        b"empty_\xff.mp3",
        b"cut.mp3",
        b"cut.ogg",
        b"short silence.flac",
        b"long silence.flac",
    }
    human = run("musechat-builder", "index", str(hostile["music"]), "--catalog",
                str(hostile["catalog"]))  # fmt: skip
    text = human.stderr.decode()
    assert "5 file(s) failed before, unchanged" in text and "empty_\\xff.mp3" in text
    assert "(5 more as before)" in " ".join(text.split())


def test_names_never_write_escapes_to_the_terminal(hostile: dict, tmp_path: Path) -> None:
    catalog = tmp_path / "cat"
    index = through_pty("musechat-builder", "index", str(hostile["music"]), "--catalog",
                        str(catalog))  # fmt: skip
    assert_terminal_safe(index)
    assert b"empty_\\xff.mp3" in index and b"fifo.ogg" in index  # the failures, by name
    search = through_pty("musechat-builder", "search", "calm chord", "--catalog", str(catalog))
    assert_terminal_safe(search)
    assert b"evil" in search and b"txet" in search  # the name, shown without its escapes
    video = mf.make_video(tmp_path / "clip.mp4", duration=3.0, audio_freq=None)
    chat = through_pty("musechat-tui", str(video), "--ask", "calm", "--catalog", str(catalog),
                       "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert_terminal_safe(chat)
    assert b"Turn 2" in chat


def _catalog_paths(catalog: Path) -> list[str]:
    with Catalog.open(catalog, readonly=True) as cat:
        return list(cat.fingerprints())


# ---------------------------------------------------------------------------- catalogs
def _damaged_copy(hostile: dict, tmp_path: Path) -> Path:
    catalog = tmp_path / "damaged"
    shutil.copytree(hostile["catalog"], catalog)
    db = catalog / "catalog.sqlite"
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(0).integers(0, 256, 16_384, dtype=np.uint8).tobytes())
    return catalog


def one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    err = done.stderr.decode().strip()  # (a progress bar may leave an empty line)
    assert done.returncode == 1, (done.stdout, err)
    assert "Traceback" not in err and err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_damaged_catalog_is_reported_and_recovered(hostile: dict, tmp_path: Path) -> None:
    catalog = _damaged_copy(hostile, tmp_path)
    db = str(catalog / "catalog.sqlite")
    video = mf.make_video(tmp_path / "clip.mp4", duration=3.0, audio_freq=None)
    for args in (
        ("musechat-builder", "info", "--catalog", str(catalog)),
        ("musechat-builder", "search", "calm", "--catalog", str(catalog)),
        ("musechat-tui", str(video), "--json", "--catalog", str(catalog)),
    ):
        one_line_error(run(*args), db, "the catalog is damaged", "verify --repair")
    check = run("musechat-builder", "verify", "--catalog", str(catalog), "--json")
    assert check.returncode == 1 and not json.loads(check.stdout)["ok"]
    fixed = run("musechat-builder", "verify", "--repair", "--catalog", str(catalog), "--json")
    assert fixed.returncode == 0, fixed.stderr.decode()
    doc = json.loads(fixed.stdout)
    assert doc["ok"] and doc["remaining"] == []
    assert doc["recovery"]["recovered"]["tracks"] == 3  # the tracks' rows were readable
    assert Path(doc["recovery"]["kept_aside"]).exists()  # the damaged file is kept
    with Catalog.open(catalog, readonly=True) as cat:
        assert cat.count() == 3 and cat.check_integrity() == []
    assert run("musechat-builder", "verify", "--catalog", str(catalog)).returncode == 0
    assert run("musechat-tui", str(video), "--json", "--catalog", str(catalog)).returncode == 0


def test_index_rebuild_sets_a_damaged_catalog_aside(hostile: dict, tmp_path: Path) -> None:
    catalog = _damaged_copy(hostile, tmp_path)
    args = ("musechat-builder", "index", str(hostile["music"]), "--catalog", str(catalog))
    one_line_error(run(*args), "the catalog is damaged")
    rebuilt = run(*args, "--rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    report = json.loads(rebuilt.stdout)
    assert report["indexed"] == 3 and Path(report["set_aside"]).exists()


def test_zero_byte_and_empty_catalogs_are_clear_errors(tmp_path: Path) -> None:
    zero = tmp_path / "zero"
    zero.mkdir()
    (zero / "catalog.sqlite").write_bytes(b"")
    video = mf.make_video(tmp_path / "clip.mp4", duration=3.0, audio_freq=None)
    for args in (
        ("musechat-builder", "info", "--catalog", str(zero)),
        ("musechat-tui", str(video), "--json", "--catalog", str(zero)),
    ):
        one_line_error(run(*args), "the file is empty, 0 bytes")
    repair = run("musechat-builder", "verify", "--repair", "--catalog", str(zero))
    err = one_line_error(repair, "nothing to recover")
    assert "OK" not in repair.stdout.decode() + err
    assert (zero / "catalog.sqlite").stat().st_size == 0  # not silently made a catalog
    empty = tmp_path / "empty"
    Catalog.open(empty, create=True).close()
    for args in (
        ("musechat-tui", str(video), "--ask", "calm", "--json", "--catalog", str(empty)),
        ("musechat-builder", "search", "calm", "--catalog", str(empty)),
    ):
        one_line_error(run(*args), "holds no tracks", "musechat-builder index")


def test_an_overwritten_index_file_is_not_current(hostile: dict, tmp_path: Path) -> None:
    catalog = tmp_path / "idx"
    shutil.copytree(hostile["catalog"], catalog)
    index = catalog / "tracks.hnsw"
    data = bytearray(index.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 512] = bytes(512)  # same size, other content
    index.write_bytes(bytes(data))
    info = json.loads(run("musechat-builder", "info", "--catalog", str(catalog), "--json").stdout)
    assert info["index"]["state"] == "corrupt"
    check = json.loads(
        run("musechat-builder", "verify", "--catalog", str(catalog), "--json").stdout
    )
    assert check["problems"] == ["index file is corrupt (its hash does not match)"]


# ---------------------------------------------------------------------------- processes
def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | _descendants(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_workers_die_with_a_killed_indexer(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for i in range(24):
        mf.make_chord(music / f"t{i}.ogg", (200.0 + 7 * i, 300.0 + 7 * i), duration=12)
    proc = subprocess.Popen(
        [str(BIN / "musechat-builder"), "index", str(music), "--catalog", str(tmp_path / "c"),
         "--jobs", "2"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    children: set[int] = set()
    while time.monotonic() < deadline and len(children) < 3 and proc.poll() is None:
        children = _descendants(proc.pid)  # the resource tracker and two decoders
        time.sleep(0.1)
    assert len(children) >= 3, "the decoder workers never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    end = time.monotonic() + 5
    while time.monotonic() < end and any(_alive(c) for c in children):
        time.sleep(0.1)
    assert not [c for c in children if _alive(c)], "workers outlived the killed indexer"


def _sleepy(item: float, settings: object) -> float:  # a decode that can hang
    time.sleep(item)
    return item


def test_a_decode_over_its_time_budget_is_skipped(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "none.toml")
    got = list(
        map_ahead(
            _sleepy, [0.0, 60.0, 0.1, 0.0], settings, 1, timeout_s=2.0,
            on_timeout=lambda item, s: f"over {s:g} s",
        )
    )  # fmt: skip
    assert got == [(0.0, 0.0), (60.0, "over 2 s"), (0.1, 0.1), (0.0, 0.0)]


# ---------------------------------------------------------------------------- sessions
def test_sessions_keep_absolute_paths_and_their_catalog(hostile: dict, tmp_path: Path) -> None:
    video = mf.make_video(tmp_path / "clip.mp4", duration=3.0, audio_freq=None)
    data = str(tmp_path / "data")
    started = subprocess.run(
        [str(BIN / "musechat-tui"), "clip.mp4", "--json", "--catalog", str(hostile["catalog"]),
         "--data-dir", data],
        capture_output=True, cwd=tmp_path, env=ENV, timeout=TIMEOUT,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr.decode()
    doc = json.loads(started.stdout)
    assert doc["video"] == str(video) and doc["catalog"] == str(hostile["catalog"])
    # From elsewhere, with no --catalog: the session's own catalog and video are used.
    resumed = run("musechat-tui", "--resume", "last", "--ask", "slower", "--json",
                  "--data-dir", data)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr.decode()
    again = json.loads(resumed.stdout)
    assert again["session"] == doc["session"] and len(again["turns"]) == 2
    assert not any("continuing on" in n for n in again.get("notes", []))
