"""The conversational dataset of paper §3 on disk: written by `musechat-builder synth`,
read by `musechat-trainer`. This module is the contract between the two.

DATASET_DIR/
  manifest.json        Manifest (counts, encoders, seed, pool sizes, split, generator)
  train.jsonl          one Quartet per line (fixed-seed split)
  test.jsonl
  features/            safetensors shards, float16; an item's tensors are keyed "<key>/<name>"
    shard-00000.safetensors ...

Feature tensors (computed once, so training never decodes media again):
  video item  "<key>/frames"    (S, F, d_image)  S <= 12 segments of 10 s, F frames each
  music item  "<key>/segments"  (S, d_audio)     one embedding per 10 s segment; the music
                                                  transformer's sequence is these S tokens
                                                  (musicnn has no AST-like token output)
  quartet     "<id>/t3_tokens"  (L, d_text)      token features of the user's refinement (t3)
Keys of media items are content hashes, so a track used in many quartets is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

MANIFEST = "manifest.json"
FEATURES_DIR = "features"
Split = Literal["train", "test"]


@dataclass
class MusicItem:
    path: str
    key: str  # feature key (content hash)
    shard: str  # shard file name under features/
    title: str | None = None
    track: str | None = None
    album: str | None = None
    artist: str | None = None
    mtt: list[str] = field(default_factory=list)  # top-5 MTT tags, best first
    msd: list[str] = field(default_factory=list)  # top-5 MSD tags, best first
    rank: int | None = None  # candidates: rank under the base scorer in its pool


@dataclass
class VideoItem:
    path: str
    key: str
    shard: str


@dataclass
class Turn:
    role: Literal["user", "system"]
    text: str
    recommends: Literal["candidate", "target"] | None = None  # system turns


@dataclass
class Quartet:
    """(video, target music, candidate music, two-turn conversation): one training sample."""

    id: str
    split: Split
    video: VideoItem
    target: MusicItem
    candidate: MusicItem
    conversation: list[Turn]  # t1 user, t2 system (candidate), t3 user, t4 system (target)
    text_shard: str  # shard holding "<id>/t3_tokens"
    generator: str  # "offline" or "openai:<model>"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Quartet:
        return cls(
            id=d["id"],
            split=d["split"],
            video=VideoItem(**d["video"]),
            target=MusicItem(**d["target"]),
            candidate=MusicItem(**d["candidate"]),
            conversation=[Turn(**t) for t in d["conversation"]],
            text_shard=d["text_shard"],
            generator=d["generator"],
        )

    @property
    def t3(self) -> str:
        return self.conversation[2].text


@dataclass
class Manifest:
    version: int
    seed: int
    encoders: dict[str, dict[str, Any]]  # modality -> {"id": ..., "dim": ...}
    fps: float
    segments: int
    segment_seconds: float
    pool_sizes: dict[str, int]  # split -> candidate pool size (paper: 2000 train, 500 test)
    rank_window: tuple[int, int]  # candidate picked among these ranks (1-based, inclusive)
    counts: dict[str, int]  # train, test, dropped, regenerated, failed media
    generator: str
    synthetic: bool = False  # made by `synth --synthetic` (visualiser videos)
    created: str = ""

    def save(self, directory: Path) -> None:
        tmp = directory / (MANIFEST + ".part")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(directory / MANIFEST)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        d = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        d["rank_window"] = tuple(d["rank_window"])
        return cls(**d)


def read_quartets(directory: Path, split: Split) -> Iterator[Quartet]:
    with open(directory / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Quartet.from_dict(json.loads(line))
