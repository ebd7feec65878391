"""The music catalog: SQLite (the truth) + a derived HNSW index, in one folder.

from musechat_tui.catalog import Catalog, VectorIndex

with Catalog.open(settings.catalog_path, readonly=True) as cat:   # the chat
    index, status = VectorIndex.open_for(cat)
    hits = index.search(query_vec, k=5, allowed_ids=set(cat.track_ids_where("bpm > ?", [120])))
    tracks = cat.get_tracks([h.id for h in hits], segments=False)

with Catalog.open(dir, create=True) as cat:                        # the indexer (locked)
    cat.put_tracks(batch)                                          # one transaction per batch
    VectorIndex.build_from(cat)                                    # incremental when possible
"""

from musechat_tui.catalog.lock import CatalogLock, CatalogLockedError
from musechat_tui.catalog.store import (
    DB_FILE,
    INDEX_FILE,
    Catalog,
    CatalogDamagedError,
    CatalogEmptyError,
    CatalogError,
    CatalogMissingError,
    EncoderMismatchError,
    TrackRecord,
)
from musechat_tui.catalog.vector_index import Hit, HnswParams, VectorIndex, repair, verify

__all__ = [
    "DB_FILE",
    "INDEX_FILE",
    "Catalog",
    "CatalogDamagedError",
    "CatalogEmptyError",
    "CatalogError",
    "CatalogLock",
    "CatalogLockedError",
    "CatalogMissingError",
    "EncoderMismatchError",
    "HnswParams",
    "Hit",
    "TrackRecord",
    "VectorIndex",
    "repair",
    "verify",
]
