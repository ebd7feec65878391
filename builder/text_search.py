"""Text to tracks: the query's sentence vector against each track's description vector
(written at index time from its tags, tempo, loudness and metadata)."""

from __future__ import annotations

from typing import Any

import numpy as np

from musechat_tui.catalog import Catalog
from musechat_tui.config import Settings
from musechat_tui.encoders import build_text_encoder


def search_catalog(settings: Settings, query: str, k: int = 10) -> list[dict[str, Any]]:
    with Catalog.open(settings.catalog_path, readonly=True) as catalog:
        catalog.require_tracks()
        ids, vectors = catalog.text_embeddings()
        if len(ids) == 0:
            return []
        q = build_text_encoder(settings).encode([query])[0]
        scores = vectors @ q
        top = np.argsort(-scores)[:k]
        tracks = {t.id: t for t in catalog.get_tracks([int(ids[i]) for i in top], segments=False)}
    hits = []
    for i in top:
        t = tracks[int(ids[i])]
        hits.append(
            {
                "id": t.id,
                "path": t.path,
                "title": t.title,
                "artist": t.artist,
                "score": float(scores[i]),
                "tags": [label.name for labels in t.tags.values() for label in labels[:5]],
                "bpm": t.bpm,
                "duration": t.duration,
            }
        )
    return hits
