"""Render MIDI (and music21 corpus scores) to WAV with the fluidsynth command line.

Used by the demo library builder and the tests: no recordings can be downloaded here, but
music21 ships thousands of scores and fluidsynth renders them far faster than real time
with a General MIDI soundfont (Debian: `apt-get install fluidsynth timgm6mb-soundfont`).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from musechat_tui.errors import MediaMissingError, MuseChatError

# First existing one wins. TimGM6mb first: it is what the project's install uses, so
# rendered demo tracks are the same on every machine that has it.
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
)
RENDER_TIMEOUT_S = 600
_WAV_HEADER_BYTES = 44


def find_soundfont(soundfont: Path | None = None) -> Path:
    """The given soundfont, or the first General MIDI soundfont installed on the system."""
    if soundfont is not None:
        path = Path(soundfont).expanduser()
        if not path.is_file():
            raise MuseChatError(f"{path}: soundfont not found")
        return path
    for path in SOUNDFONT_CANDIDATES:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in SOUNDFONT_CANDIDATES)
    raise MuseChatError(
        f"no General MIDI soundfont found (looked for {looked}); install one "
        "(apt-get install timgm6mb-soundfont) or pass a .sf2 file"
    )


def _fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise MuseChatError(
            "fluidsynth is not installed (needed to render MIDI): apt-get install fluidsynth"
        )
    return exe


def render_midi(
    midi_path: Path,
    out_wav: Path,
    sample_rate: int = 16000,
    soundfont: Path | None = None,
    max_seconds: float = 1200.0,
) -> Path:
    """Render `midi_path` to a 16-bit stereo WAV at `sample_rate`; returns `out_wav`.

    The WAV is written next to its final name and moved into place only when fluidsynth
    succeeded, so an interrupted render never leaves a half file behind.
    """
    midi_path, out_wav = Path(midi_path), Path(out_wav)
    if not midi_path.is_file():
        raise MediaMissingError(midi_path)
    exe = _fluidsynth()
    sf2 = find_soundfont(soundfont)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    part = out_wav.with_name(out_wav.name + ".part")
    cmd = [exe, "-ni", "-q", "-T", "wav", "-r", str(int(sample_rate)), "-F", str(part)]
    cmd += [str(sf2), str(midi_path)]
    # A MIDI file with a note that never ends makes fluidsynth render forever (seen with
    # sustained choir voices): stop once the output passes `max_seconds` of audio.
    max_bytes = _WAV_HEADER_BYTES + int(max_seconds * sample_rate) * 4  # 16-bit stereo
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while proc.poll() is None:
            too_long = part.exists() and part.stat().st_size > max_bytes
            if too_long or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                part.unlink(missing_ok=True)
                why = (
                    f"renders past {max_seconds:.0f} s of audio"
                    if too_long
                    else (f"did not finish within {RENDER_TIMEOUT_S} s")
                )
                raise MuseChatError(f"{midi_path}: fluidsynth {why} (a note that never ends?)")
            time.sleep(0.1)
        stdout, stderr = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
    detail = (stderr or stdout).strip().splitlines()[-3:]
    # fluidsynth exits 0 even when it cannot read the MIDI file: check the output too.
    ok = proc.returncode == 0 and part.is_file() and part.stat().st_size > _WAV_HEADER_BYTES
    if not ok:
        part.unlink(missing_ok=True)
        raise MuseChatError(
            f"{midi_path}: fluidsynth could not render it (exit {proc.returncode}"
            + (f": {' | '.join(detail)}" if detail else "")
            + ")"
        )
    part.replace(out_wav)
    return out_wav


def render_corpus_piece(
    name: str,
    out_wav: Path,
    sample_rate: int = 16000,
    soundfont: Path | None = None,
    instrument: str | None = None,
) -> Path:
    """Render a music21 corpus work ('bach/bwv66.6', 'joplin/maple_leaf_rag', or a path
    from music21.corpus.getComposer) to WAV; returns `out_wav`.

    `instrument` (a music21 instrument name such as "piano" or "violin") replaces every
    part's instruments, e.g. to hear a chorale on piano instead of the default programs.
    """
    from music21 import corpus, stream
    from music21 import instrument as m21instrument

    _fluidsynth()  # fail before the (slow) parse when fluidsynth is missing
    try:
        score = corpus.parse(str(name))
    except Exception as exc:  # music21 raises several unrelated exception types here
        raise MuseChatError(f"music21 corpus work {name!r} cannot be loaded: {exc}") from None

    if isinstance(score, stream.Opus):  # a file of several works: its first one
        if not score.scores:
            raise MuseChatError(f"music21 corpus work {name!r} holds no score")
        score = score.scores[0]
    if instrument is not None:
        try:
            forced = m21instrument.fromString(instrument)
        except Exception:
            raise MuseChatError(f"unknown music21 instrument {instrument!r}") from None
        for part in score.parts:
            for old in list(part.recurse().getElementsByClass(m21instrument.Instrument)):
                old.activeSite.remove(old)
            part.insert(0, copy.deepcopy(forced))

    with tempfile.TemporaryDirectory(prefix="musechat-midi-") as tmp:
        midi = Path(tmp) / "piece.mid"
        try:
            score.write("midi", fp=midi)
        except Exception as exc:
            raise MuseChatError(
                f"music21 corpus work {name!r}: MIDI export failed: {exc}"
            ) from None
        return render_midi(midi, out_wav, sample_rate=sample_rate, soundfont=soundfont)
