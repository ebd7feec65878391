"""The catalog in memory, as arrays the scorers can work on in one matrix product: track
ids, metadata columns, the tag probability matrix, and the description (text) and audio
embeddings. Loaded once per chat (a 10k-track catalog is ~40 MB and loads in well under a
second); SQLite stays the truth; the pool is
its snapshot, and the constraint filters are masks over it.

Rows are in ascending id order; `rows(ids)` maps ids to row numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from musechat_tui.catalog import Catalog
from musechat_tui.engine.text_norms import hub_stats
from musechat_tui.engine.vocabulary import (
    CONCEPTS_BY_NAME,
    TAG_PRESENT_PROB,
    TAG_PRESENT_RANK,
)


def row_sims(matrix: np.ndarray, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """matrix[rows] @ vector."""
    # One pass over the whole (contiguous) matrix, then pick rows: cheaper than copying the
    # selected rows out first (10k x 384 floats is a 15 MB copy). einsum, not `@`: BLAS
    # threads spin-wait when the other core is busy (20 ms instead of 1.5 ms for 10k rows).
    return np.einsum("ij,j->i", matrix, vector.astype(matrix.dtype, copy=False))[rows]


@dataclass
class TrackPool:
    ids: np.ndarray  # (n,) int64, ascending
    paths: list[str]
    titles: list[str]
    artists: list[str | None]
    bpm: np.ndarray  # (n,) float32, NaN when unknown
    duration: np.ndarray  # (n,) float32 seconds
    energy: np.ndarray  # (n,) float32 dBFS, NaN when unknown
    tag_names: list[str]  # lower-case, MTT and MSD merged
    tag_probs: np.ndarray  # (n, T) float32 (0 for tags outside a track's stored top 10)
    tag_present: np.ndarray  # (n, T) bool: shown tag (top 5 of its vocabulary) or prob >= 0.1
    text: np.ndarray  # (n, dt) float32 description vectors (zeros when missing)
    audio: np.ndarray  # (n, da) float32 track embeddings, L2-normalised
    # music_character per track (NaN when unknown): mode score (> 0 major), timbre
    # brightness (Hz), onsets per second; and the text vectors' hubness statistics.
    # (None: unknown for every track, e.g. a pool built from a dataset's facts)
    major: np.ndarray | None = None
    centroid_hz: np.ndarray | None = None
    onset_rate: np.ndarray | None = None
    hub_mean: np.ndarray | None = None
    hub_std: np.ndarray | None = None
    hub_bank: list[str | None] | None = None  # the bank each track's statistics are against
    keys: list[str | None] | None = None  # estimated key ("A minor"), None when unknown
    encoder: str | None = None
    # (vocab, stored spelling) pairs per lower-case tag: for index-friendly SQL.
    tag_sources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _tag_col: dict[str, int] = field(default_factory=dict, repr=False)
    _tag_stats: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _artist_keys: np.ndarray = field(init=False, repr=False)  # lower-case, for artist masks

    def __post_init__(self) -> None:
        self._tag_col = {t: i for i, t in enumerate(self.tag_names)}
        for name in ("major", "centroid_hz", "onset_rate", "hub_mean", "hub_std"):
            if getattr(self, name) is None:
                setattr(self, name, np.full(len(self.ids), np.nan, np.float32))
        if self.hub_bank is None:
            self.hub_bank = [None] * len(self.ids)
        if self.keys is None:
            self.keys = [None] * len(self.ids)
        self._artist_keys = np.array([(a or "").lower() for a in self.artists], dtype=object)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def load(cls, catalog: Catalog) -> TrackPool:
        with catalog.snapshot():
            names = catalog.text_columns(("path", "title", "artist", "music_key", "text_hub_bank"))
            numbers = catalog.numeric_columns()
            ids = catalog.ids()
            tag_rows = catalog.tag_rows()
            text_ids, text_vecs = catalog.text_embeddings()
            audio_parts = list(catalog.iter_embeddings())
        n = len(ids)
        sources: dict[str, list[tuple[str, str]]] = {}
        for _, vocab, tag, _, _ in tag_rows:
            pairs = sources.setdefault(tag.lower(), [])
            if (vocab, tag) not in pairs:
                pairs.append((vocab, tag))
        tag_names = sorted(sources)
        col = {t: i for i, t in enumerate(tag_names)}
        probs = np.zeros((n, len(tag_names)), dtype=np.float32)
        present = np.zeros((n, len(tag_names)), dtype=bool)
        if tag_rows:
            tids = np.fromiter((r[0] for r in tag_rows), dtype=np.int64, count=len(tag_rows))
            r_idx = np.searchsorted(ids, tids)
            c_idx = np.fromiter((col[r[2].lower()] for r in tag_rows), dtype=np.int64)
            p = np.fromiter((r[3] for r in tag_rows), dtype=np.float32)
            rank = np.fromiter((r[4] for r in tag_rows), dtype=np.int64)
            # A tag in both vocabularies ("rock"): keep the higher probability.
            np.maximum.at(probs, (r_idx, c_idx), p)
            present[r_idx, c_idx] |= (rank < TAG_PRESENT_RANK) | (p >= TAG_PRESENT_PROB)
        text_dim = text_vecs.shape[1] if len(text_ids) else 384
        text = np.zeros((n, text_dim), dtype=np.float32)
        if len(text_ids):
            text[np.searchsorted(ids, text_ids)] = text_vecs
        audio = (
            np.concatenate([v for _, v in audio_parts]).astype(np.float32)
            if audio_parts
            else np.zeros((0, 1), dtype=np.float32)
        )
        return cls(
            ids=ids,
            paths=[p or "" for p in names["path"]],
            titles=[t or "untitled" for t in names["title"]],
            artists=names["artist"],
            bpm=numbers["bpm"],
            duration=numbers["duration"],
            energy=numbers["energy"],
            tag_names=tag_names,
            tag_probs=probs,
            tag_present=present,
            text=text,
            audio=audio,
            major=numbers["major"],
            centroid_hz=numbers["centroid_hz"],
            onset_rate=numbers["onset_rate"],
            hub_mean=numbers["text_hub_mean"],
            hub_std=numbers["text_hub_std"],
            hub_bank=names["text_hub_bank"],
            keys=names["music_key"],
            encoder=catalog.encoder,
            tag_sources=sources,
        )

    # ------------------------------------------------------------------ hubness
    def stale_hub_rows(self, bank: str) -> np.ndarray:
        """Rows whose hubness statistics are missing or against another reference bank
        (catalogs indexed before them, or before the bank changed)."""
        assert self.hub_bank is not None and self.hub_mean is not None
        other = np.array([b != bank for b in self.hub_bank], dtype=bool)
        return np.flatnonzero(other | np.isnan(self.hub_mean))

    def fill_hub_stats(self, bank: str, vectors: np.ndarray) -> None:
        """Compute stale statistics in memory (`musechat-builder index` stores them)."""
        rows = self.stale_hub_rows(bank)
        if len(rows):
            mean, spread = hub_stats(self.text[rows], vectors)
            self.hub_mean[rows], self.hub_std[rows] = mean, spread
            for r in rows:
                self.hub_bank[r] = bank

    def text_sims(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Hubness-corrected similarity of the description vectors to `vector`: each
        track's cosine in units of its own spread over the reference bank (text_norms)."""
        sims = row_sims(self.text, vector, rows)
        return (sims - self.hub_mean[rows]) / self.hub_std[rows]

    # ------------------------------------------------------------------ lookups
    def rows(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """Row numbers of `ids` (ids not in the pool are dropped)."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        ok = (self.ids[pos] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        return pos[ok]

    def row(self, track_id: int) -> int | None:
        r = self.rows([track_id])
        return int(r[0]) if len(r) else None

    def concept_tags(self, concept: str) -> list[str]:
        """The concept's tags that this catalog has."""
        return [t for t in CONCEPTS_BY_NAME[concept].tags if t in self._tag_col]

    def concept_prob(self, concept: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Per track: the highest probability among the concept's tags (0 if none stored)."""
        cols = [self._tag_col[t] for t in self.concept_tags(concept)]
        sel = self.tag_probs if rows is None else self.tag_probs[rows]
        return sel[:, cols].max(axis=1) if cols else np.zeros(len(sel), dtype=np.float32)

    def concept_present(self, concept: str, rows: np.ndarray | None = None) -> np.ndarray:
        cols = [self._tag_col[t] for t in self.concept_tags(concept)]
        sel = self.tag_present if rows is None else self.tag_present[rows]
        return sel[:, cols].any(axis=1) if cols else np.zeros(len(sel), dtype=bool)

    def tag_weights(self, weights: dict[str, float], rows: np.ndarray) -> np.ndarray:
        """Sum of weight * standardised probability over the named tags. Standardised per
        tag over the catalog, because base rates differ wildly: musicnn says "slow" at 0.5
        where it says "pop" at 0.1, and a raw sum would always favour the common tags."""
        if self._tag_stats is None:
            self._tag_stats = (self.tag_probs.mean(axis=0), self.tag_probs.std(axis=0))
        mean, sd = self._tag_stats
        out = np.zeros(len(rows), dtype=np.float32)
        for tag, w in weights.items():
            c = self._tag_col.get(tag)
            if c is not None and w and sd[c] > 1e-6:
                out += w * (self.tag_probs[rows, c] - mean[c]) / sd[c]
        return out

    def shown_tags(self, row: int, limit: int = 10) -> list[str]:
        """The track's present tags, most probable first (what a recommendation lists)."""
        cols = np.flatnonzero(self.tag_present[row])
        cols = cols[np.argsort(-self.tag_probs[row, cols], kind="stable")]
        return [self.tag_names[c] for c in cols[:limit]]

    def artist_mask(self, artists: list[str]) -> np.ndarray:
        """Per track: whether its artist is one of `artists` (case-insensitive)."""
        return np.isin(self._artist_keys, [a.lower() for a in artists if a])

    def artist_rows(self, artist: str) -> np.ndarray:
        return np.flatnonzero(self.artist_mask([artist]))

    def distinct_artists(self) -> list[str]:
        return sorted({a for a in self.artists if a})
