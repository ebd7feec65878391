"""The work folder (DATASET_DIR/.synth) that makes `synth` resumable.

Journals are JSONL files appended one record at a time and fsynced: a record is written
only after the work it describes is safely on disk (a feature shard is renamed into place
before its items are journaled), so after a kill a rerun trusts every complete line and
redoes the rest. A torn last line (killed mid-write) is ignored.

- items.jsonl          one record per media file whose features are in a shard
- failures.jsonl       media that could not be used (with size and mtime: not retried
                       until the file changes)
- conversations.jsonl  one record per quartet whose conversation is settled (valid or dropped)
- text.jsonl           quartets whose t3 token features are in a shard
- candidates.json      the candidate picks, with the fingerprint of what they depend on
- config.json          the settings the features were made with (a rerun must match)
- llm_cache/           OpenAI answers keyed by prompt hash (openai_gen.py)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from musechat_tui.errors import MuseChatError

WORK_DIR = ".synth"


class StateMismatchError(MuseChatError):
    """The dataset folder was started with other feature settings."""


class WorkState:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.dir = out / WORK_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.dir / name

    def append(self, name: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with open(self.path(name), "a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def read(self, name: str) -> list[dict[str, Any]]:
        p = self.path(name)
        if not p.exists():
            return []
        out = []
        with open(p, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # torn last line of a killed run
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def load_json(self, name: str) -> Any:
        p = self.path(name)
        try:
            return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None
        except ValueError:
            return None

    def save_json(self, name: str, obj: Any) -> None:
        tmp = self.path(name + ".part")
        tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path(name))

    def check_config(self, config: dict[str, Any]) -> None:
        """Record the feature settings on the first run; refuse to mix settings later."""
        old = self.load_json("config.json")
        if old is None:
            self.save_json("config.json", config)
            return
        diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
        if diff:
            what = ", ".join(f"{k}: {a!r} then {b!r}" for k, (a, b) in diff.items())
            raise StateMismatchError(
                f"{self.out}: this dataset was started with other feature settings ({what}); "
                "use another --out, or --restart to start over"
            )
