"""`musechat-tui VIDEO --ask ... --json`, end to end on real files: a few rendered tones
indexed by the real indexer (musicnn, MiniLM), a real mp4 through the real image encoder,
sessions saved, listed and resumed from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import media_factory as mf
import pytest
from typer.testing import CliRunner

from builder.index import index_library
from musechat_tui.cli import app
from musechat_tui.config import load_settings

RECOMMENDATION_KEYS = {"id", "path", "title", "artist", "score", "tags", "bpm", "duration"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    music = root / "music"
    music.mkdir()
    for i, ext in enumerate(["ogg", "mp3", "flac", "wav", "m4a", "ogg"]):
        base = 196.0 * 2 ** (i / 5)
        mf.make_chord(
            music / f"Band {i % 2} - Piece {i}.{ext}", (base, base * 1.25, base * 1.5), duration=12
        )
    config = root / "none.toml"
    settings = load_settings(config, data_dir=root / "data", threads=1)
    index_library(settings, music, settings.catalog_path)
    video = mf.make_video(root / "clip.mp4", duration=4.0, pattern="texture", audio_freq=None)
    return {"root": root, "config": config, "data": root / "data", "video": video}


def run(world: dict[str, Path], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [*args, "--config", str(world["config"]), "--data-dir", str(world["data"])],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def test_scripted_turns_as_json_then_list_and_resume(world: dict[str, Path]) -> None:
    code, out = run(
        world,
        str(world["video"]),
        "--ask",
        "slower",
        "--ask",
        "not #1, more like #2",
        "--json",
        "--explainer",
        "template",
        "--top-k",
        "3",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["video"] == str(world["video"])
    assert [t["turn"] for t in doc["turns"]] == [1, 2, 3]
    assert [t["user"] for t in doc["turns"]] == [None, "slower", "not #1, more like #2"]
    for turn in doc["turns"]:
        assert 1 <= len(turn["recommendations"]) <= 3
        for rec in turn["recommendations"]:
            assert set(rec) >= RECOMMENDATION_KEYS
            assert Path(rec["path"]).exists()
        assert turn["explanation"] and turn["recommendations"][0]["title"] in turn["explanation"]
    rejected = doc["turns"][1]["recommendations"][0]["id"]
    assert rejected not in {r["id"] for r in doc["turns"][2]["recommendations"]}
    assert doc["turns"][2]["anchor"] == doc["turns"][1]["recommendations"][1]["id"]

    code, out = run(world, "--list-sessions", "--json")
    assert code == 0
    sessions = json.loads(out)
    assert sessions[0]["id"] == doc["session"] and sessions[0]["turns"] == 3

    code, out = run(
        world, "--resume", doc["session"], "--ask", "faster", "--json", "--explainer", "template"
    )
    assert code == 0, out
    resumed = json.loads(out)
    assert resumed["turns"][:3] == doc["turns"]
    assert resumed["turns"][3]["user"] == "faster"
    assert rejected not in {r["id"] for r in resumed["turns"][3]["recommendations"]}


def test_without_ask_prints_turn_one_for_people(world: dict[str, Path]) -> None:
    code, out = run(world, str(world["video"]), "--explainer", "template")
    assert code == 0, out
    assert "Turn 1: the video alone" in out
    assert "#1  Band" in out and "why #1:" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a VIDEO"),
        (("/nonexistent/video.mp4",), "does not exist"),
        (("--resume", "nosuchid"), "no session"),
    ],
)
def test_errors_are_one_line(world: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    if not args:
        args = ("--json",)
    code, out = run(world, *args)
    assert code == 1
    assert out.startswith("error:") and message in out


def test_missing_catalog(world: dict[str, Path], tmp_path: Path) -> None:
    code, out = run(world, str(world["video"]), "--catalog", str(tmp_path / "nothing"))
    assert code == 1 and "no music catalog" in out


def test_export_from_the_command_line(world: dict[str, Path], tmp_path: Path) -> None:
    """--export writes the last turn's pick under the video (duck: the video has sound),
    reports it in --json, refuses to replace it without --overwrite, and --resume exports
    the same session again."""
    from musechat_tui.export.mixdown import loudness
    from musechat_tui.playback import decode_section

    video = mf.make_video(tmp_path / "talky.mp4", duration=4.0, pattern="texture", audio_freq=300)
    out = tmp_path / "final.mp4"
    args = ("--ask", "slower", "--export", str(out), "--json", "--explainer", "template")
    code, text = run(world, str(video), *args)
    assert code == 0, text
    doc = json.loads(text)
    e = doc["export"]
    assert e["path"] == str(out) and out.exists()
    assert e["track_id"] == doc["turns"][-1]["recommendations"][0]["id"]  # the top pick
    assert e["mode"] == "duck" and abs(e["lufs"] + 14.0) < 0.5 and e["true_peak_dbtp"] <= -1.0
    assert abs(loudness(decode_section(out, 0, 4, 48000, 2).T, 48000) + 14.0) < 0.5

    code, text = run(world, str(video), "--export", str(out), "--mode", "replace")
    assert code == 1 and text.startswith("error:") and "already exists" in text
    assert len(text.strip().splitlines()) == 1

    code, text = run(world, "--resume", doc["session"], "--export", str(tmp_path), "--mode",
                     "replace", "--overwrite", "--json")  # fmt: skip
    assert code == 0, text
    again = json.loads(text)["export"]
    assert again["path"] == str(tmp_path / "talky.musechat.mp4") and again["mode"] == "replace"
    assert again["track_id"] == e["track_id"]


def test_a_first_turn_imports_neither_torch_nor_transformers(world: dict[str, Path]) -> None:
    """Importing torch and transformers costs more than the first answer may take: the
    first turn, cold and reopened, runs on ONNX Runtime alone (the models were exported
    by the fixtures' runs already). The reopen (analysis, video query and first-turn norms
    cached) loads no model and opens no container: neither ONNX Runtime nor PyAV; nor
    sqlite-utils, which only a pending schema step needs (the first run makes the sessions
    file)."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom musechat_tui.cli import main\n"
        "sys.argv = ['musechat-tui', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print('HEAVY', sorted(loaded & {'torch', 'transformers'}), file=sys.stderr)\n"
        "print('MODELS', sorted(loaded & {'onnxruntime', 'av', 'sqlite_utils'}), file=sys.stderr)\n"
    )
    data = world["root"] / "torch-free-data"
    for reopen in (False, True):  # the first open, then the reopen from the analysis cache
        done = subprocess.run(
            [sys.executable, "-c", script, str(world["video"]), "--json", "--no-explain",
             "--config", str(world["config"]), "--data-dir", str(data),
             "--catalog", str(world["data"] / "catalog")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["turns"][0]["recommendations"]
        assert "HEAVY []" in done.stderr, done.stderr[-2000:]
        assert ("MODELS []" in done.stderr) == reopen, done.stderr[-2000:]
