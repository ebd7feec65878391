"""The engine tests' small catalog, whose tags, tempi, lengths and artists are known, and
helpers shared by the engine test files (the fixtures that build it are in conftest.py).

The catalog is written through the real Catalog API with real MiniLM description vectors;
its audio embeddings are clustered by style (so audio similarity is meaningful) instead
of coming from rendered music, which keeps every tag exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from builder.index import add_text_embeddings
from musechat_tui.catalog import Catalog, TrackRecord, VectorIndex
from musechat_tui.config import Settings, load_settings
from musechat_tui.encoders import Label
from musechat_tui.engine import ChatEngine, VideoFeatures

ENCODER = "musicnn-mtt+msd-onnx-v1"
DIM = 400
TAGS = json.loads((Path(__file__).resolve().parents[1] / "data/musicnn/tags.json").read_text())
MSD = set(TAGS["msd"]) - set(TAGS["mtt"])

# artist, title, tags (best first), bpm, seconds, dBFS, style cluster
LIBRARY = [
    ("Ada Keys", "Morning Etude", "piano,classical,solo,quiet,slow", 72, 180, -30, "piano"),
    ("Ada Keys", "Rain Nocturne", "piano,slow,soft,classical,ambient", 66, 240, -32, "piano"),
    ("Ben Ivory", "Ragtime Run", "piano,fast,classical,jazz,solo", 140, 150, -22, "piano"),
    ("Ben Ivory", "Blues Walk", "piano,blues,jazz,drums,male vocal", 105, 200, -17, "piano"),
    ("The Amps", "Highway", "guitar,drums,rock,fast,loud,male vocal", 150, 200, -12, "rock"),
    ("The Amps", "Slow Burn", "guitar,drums,rock,slow,male vocal", 90, 260, -14, "rock"),
    ("Dusty Roads", "Campfire", "guitar,acoustic,country,folk,male vocal", 100, 160, -19, "rock"),
    ("Neon Grid", "Pulse", "electronic,synth,techno,drums,beat,dance", 128, 210, -11, "electro"),
    ("Neon Grid", "Drift", "electronic,synth,ambient,slow,no vocals", 95, 300, -20, "electro"),
    ("Aurora Choir", "Hymn", "choir,choral,vocal,classical,female vocal", 70, 190, -25, "strings"),
    ("Quartet Nine", "Allegro", "strings,violin,cello,classical,fast", 132, 170, -24, "strings"),
    ("Quartet Nine", "Adagio", "strings,violin,classical,slow,quiet,soft", 60, 320, -29, "strings"),
    ("Sunny Days", "Party Time", "pop,dance,female vocal,happy,catchy,drums", 120, 185, -10, "pop"),
    ("Sunny Days", "Sad Song", "pop,sad,female vocal,slow,Mellow", 80, 210, -18, "pop"),
    ("Deep Space", "Nebula", "ambient,new age,synth,slow,quiet,no vocals", 70, 420, -27, "ambient"),
    ("Deep Space", "Orbit", "ambient,electronic,synth,chillout", 110, 380, -21, "ambient"),
]
PROBS = [0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15]
# Estimated key and mode score (> 0 major) of some tracks; the rest are unknown.
KEYS = {
    "Morning Etude": ("D major", 0.3),
    "Rain Nocturne": ("D minor", -0.25),
    "Ragtime Run": ("C major", 0.4),
    "Party Time": ("C major", 0.35),
    "Sad Song": ("A minor", -0.3),
    "Adagio": ("G minor", -0.2),
    "Allegro": ("D major", 0.25),
    "Nebula": ("E minor", -0.15),
}


def make_records(text_encoder: object) -> list[TrackRecord]:
    rng = np.random.default_rng(7)
    styles = sorted({row[6] for row in LIBRARY})
    centres = {s: rng.normal(size=DIM) for s in styles}
    records = []
    for i, (artist, title, tags, bpm, seconds, db, style) in enumerate(LIBRARY):
        names = tags.split(",")
        mtt = [Label(n, PROBS[j]) for j, n in enumerate(names) if n not in MSD]
        msd = [Label(n, PROBS[j]) for j, n in enumerate(names) if n in MSD]
        segs = centres[style] + 0.35 * rng.normal(size=(3, DIM))
        emb = segs.mean(axis=0)
        records.append(
            TrackRecord(
                path=f"/music/{artist} - {title}.ogg",
                size=1000 + i,
                mtime=1.0,
                content_hash=f"h{i}",
                duration=float(seconds),
                embedding=(emb / np.linalg.norm(emb)).astype(np.float32),
                encoder=ENCODER,
                title=title,
                artist=artist,
                bpm=float(bpm),
                energy=float(db),
                segment_embeddings=segs.astype(np.float32),
                segment_starts=np.array([0.0, 10.0, 20.0]),
                tags={"mtt": mtt, "msd": msd} if msd else {"mtt": mtt},
                music_key=KEYS.get(title, (None, None))[0],
                major=KEYS.get(title, (None, None))[1],
            )
        )
    add_text_embeddings(records, text_encoder)
    return records


STYLE = {(a, t): s for a, t, *_, s in LIBRARY}


def video(duration: float = 60.0, seed: int = 0) -> VideoFeatures:
    rng = np.random.default_rng(seed)
    return VideoFeatures(
        path="/videos/test.mp4",
        duration=duration,
        labels=[Label("grand piano", 0.3), Label("library", 0.2)],
        brightness=0.5,
        colourfulness=0.25,
        motion=0.05,
        description="balanced, natural, gently moving video showing grand piano, library",
        encoder="efficientnet-lite0-imagenet",
        embeddings=rng.normal(size=(6, 1280)).astype(np.float32),
    )


def make_settings(tmp_path: Path, library: Path, **kw: object) -> Settings:
    return load_settings(
        tmp_path / "none.toml", data_dir=tmp_path / "data", catalog_dir=library, threads=1, **kw
    )


def present(engine: ChatEngine, track_id: int, concept: str) -> bool:
    pool = engine.pool
    return bool(pool.concept_present(concept, np.array([pool.row(track_id)]))[0])


def build_library(directory: Path, text_encoder: object) -> Path:
    with Catalog.open(directory, create=True) as cat:
        cat.put_tracks(make_records(text_encoder))
        VectorIndex.build_from(cat)
    return directory
