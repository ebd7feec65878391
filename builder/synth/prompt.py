"""The paper's template prompt (Figure 6, kept as data/prompts/musechat_figure6.txt) filled
with one (original, candidate) pair, and the model's answer parsed back into turns."""

from __future__ import annotations

import re
from pathlib import Path

from builder.synth.facts import PromptTrackFacts
from musechat_tui.config import REPO_DATA_DIR
from musechat_tui.dataset import Turn
from musechat_tui.errors import MuseChatError

DEFAULT_TEMPLATE = REPO_DATA_DIR / "prompts" / "musechat_figure6.txt"
FIELDS = ("title", "track", "album", "artist", "msd", "mtt")


class PromptError(MuseChatError):
    """The prompt template cannot be read or lacks a field."""


def load_template(path: Path | None = None) -> str:
    """The template text without its leading '#' comment lines."""
    path = path or DEFAULT_TEMPLATE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: prompt template cannot be read: {exc}") from None
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    text = "\n".join(lines).strip() + "\n"
    for who in ("original", "candidate"):
        for f in FIELDS:
            if "{" + f"{who}_{f}" + "}" not in text:
                raise PromptError(f"{path}: the template has no {{{who}_{f}}} field")
    return text


def _values(who: str, f: PromptTrackFacts) -> dict[str, str]:
    return {
        f"{who}_title": f.title or "None",
        f"{who}_track": f.track or "None",
        f"{who}_album": f.album or "None",
        f"{who}_artist": f.artist or "None",
        f"{who}_msd": ", ".join(f.msd) or "None",
        f"{who}_mtt": ", ".join(f.mtt) or "None",
    }


def fill(template: str, original: PromptTrackFacts, candidate: PromptTrackFacts) -> str:
    values = {**_values("original", original), **_values("candidate", candidate)}
    # Plain replacement, not str.format: the template may hold other braces.
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    return template


_ROLE = re.compile(
    r"^[\s>*#_-]*(user|system|recommender|assistant|bot)[\s*_]*:[\s*_]*",
    re.IGNORECASE | re.MULTILINE,
)
_ROLES = {"user": "user", "system": "system", "recommender": "system", "assistant": "system"}


def parse_conversation(text: str) -> list[Turn]:
    """Turns of an answer written like the paper's example ("User: ...", "System: ...",
    also "**User:**", "Recommender:"). Text before the first role marker is ignored; a
    turn runs to the next marker. The first four turns are returned, as they are: the
    validator decides whether they are the right four."""
    marks = list(_ROLE.finditer(text))
    turns: list[Turn] = []
    for i, m in enumerate(marks[:4]):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = " ".join(text[m.end() : end].replace("**", "").split())
        role = _ROLES.get(m.group(1).lower(), "system")
        turns.append(Turn(role, body, None))  # type: ignore[arg-type]
    if len(turns) >= 2 and turns[1].role == "system":
        turns[1].recommends = "candidate"
    if len(turns) >= 4 and turns[3].role == "system":
        turns[3].recommends = "target"
    return turns
