"""Slash commands and key bindings: one list that the help screen shows and the chat
screen dispatches on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("help", "", "show this help (also: ?)"),
    Command(
        "export",
        "[replace|mix|duck] [PATH]",
        "write the video with the chosen track under it (also: e; m changes the mode)",
    ),
    Command("new", "", "start over with the same video"),
    Command("open", "PATH", "find music for another video"),
    Command("play", "[N]", "preview the selected track, or #N (also: space)"),
    Command("stop", "", "stop the preview (space pauses it)"),
    Command("accept", "[N]", "accept the selected track, or #N (also: a)"),
    Command("reject", "[N]", "reject the selected track, or #N (also: r; again restores)"),
    Command("turn", "N", "show the recommendations of turn N (also: [ and ])"),
    Command("sessions", "", "list saved chats"),
    Command("resume", "ID", "continue a saved chat (musechat-tui --resume ID)"),
    Command("quit", "", "quit, stopping playback (also: q, ctrl+q)"),
)
BY_NAME = {c.name: c for c in COMMANDS}

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send a wish or a refinement: “calmer”, “no vocals”, “more like #3”"),
    ("↑ ↓ (in the input)", "recall earlier inputs"),
    ("Tab · Esc", "move between the input and the recommendations"),
    ("↑ ↓ · 1–9", "select a track (in the list)"),
    ("space", "play / pause a preview of the part that fits the video best"),
    ("Enter · any letter", "back to the input (in the list)"),
    ("a · r", "accept · reject (again: restore) the selected track"),
    ("e", "export the video with the chosen track"),
    ("m", "export mode: auto, duck (music dips under speech), mix, replace"),
    ("[ · ]", "earlier · later turns"),
    ("?", "this help"),
    ("q · ctrl+q", "quit"),
)

WORDS_HELP = (
    "Words MuseChat understands: tempo (“faster”, “around 120 bpm”), instruments and styles "
    "(“more piano”, “no drums”, “less electronic”), mood, artists (“only X”, “nothing by Y”), "
    "length (“at least as long as my video”), and the list (“not #2”, “more like #3”, "
    "“bring back the rejected ones”)."
)


def parse(text: str) -> tuple[Command, str] | None:
    """'/name args' -> (command, args); None when `text` is not a command. Raises
    KeyError(name) for an unknown command."""
    text = text.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, args = text[1:].partition(" ")
    name = name.lower()
    if name in ("h", "?"):
        name = "help"
    if name in ("q", "exit"):
        name = "quit"
    if name not in BY_NAME:
        raise KeyError(name)
    return BY_NAME[name], args.strip()
