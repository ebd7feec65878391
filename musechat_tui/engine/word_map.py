"""Open words: what the request rules do not know ("romantic", "tense, like a thriller",
"tropical summer vibes") mapped through the text encoder to the catalog's tags and the
mood lexicon, so that a mood outside the concept table still steers by tags and the user
sees what it became ("romantic → tender, sweet, beautiful").

Hubness-corrected like the scene reading (engine/scene.py): a musical word that is close
to every phrase ("mellow" is a little close to everything) counts by how much closer it is
to this phrase than to the reference bank of queries (engine/text_norms.py), in units of
its own spread; only words clearly above that count, and a phrase with none (chit-chat:
"ok thanks") is no open word at all.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from musechat_tui.engine.constraints.open_words import OpenRequest
from musechat_tui.engine.scene import word_text
from musechat_tui.engine.text_norms import encode_fixed, reference_vectors
from musechat_tui.engine.vocabulary import MOOD_LEXICON, STYLE_WORDS

# A phrase is an open word when its best musical word is this many spreads above that
# word's typical similarity to a query and this close in plain cosine (chit-chat such as
# "boring" or "few" reaches 3.7 / 0.75 at most; mood words 4 / 0.75 and more); the words
# it is shown as and steers by pass a lower bar.
PHRASE_MIN_LIFT = 4.0
PHRASE_MIN_SIM = 0.75
WORD_MIN_LIFT = 2.5
WORD_MIN_SIM = 0.6
SHOWN_WORDS = 4
MAX_TAGS = 3
MAX_PHRASE_WORDS = 4  # longer leftovers are descriptions for the text encoder, not words


class WordMap:
    def __init__(self, text_encoder: Any, tag_names: list[str]) -> None:
        self.text_encoder = text_encoder
        self.tags = frozenset(tag_names)
        self.words = sorted({*MOOD_LEXICON, *STYLE_WORDS, *tag_names})
        self._vectors = encode_fixed(text_encoder, [word_text(w) for w in self.words])
        ref = reference_vectors(text_encoder) @ self._vectors.T  # (bank, words)
        self._mean = ref.mean(axis=0)
        self._spread = np.maximum(ref.std(axis=0), 1e-3)

    def read(self, phrases: list[str]) -> list[OpenRequest]:
        """The phrases that land clearly near musical words, as open-word parts."""
        phrases = [p for p in phrases if 0 < len(p.split()) <= MAX_PHRASE_WORDS]
        if not phrases:
            return []
        vecs = np.asarray(self.text_encoder.encode([word_text(p) for p in phrases]), np.float32)
        sims = vecs @ self._vectors.T
        lifts = (sims - self._mean) / self._spread
        out = []
        for phrase, sim, lift in zip(phrases, sims, lifts, strict=True):
            best = int(np.argmax(lift))
            if lift[best] < PHRASE_MIN_LIFT or sim[best] < PHRASE_MIN_SIM:
                continue
            ok = (lift >= WORD_MIN_LIFT) & (sim >= WORD_MIN_SIM)
            order = [int(i) for i in np.argsort(-lift) if ok[i]]
            words = tuple(self.words[i] for i in order[:SHOWN_WORDS])
            tags = [i for i in order if self.words[i] in self.tags][:MAX_TAGS]
            top = float(lift[tags[0]]) if tags else 1.0
            weights = tuple((self.words[i], round(float(lift[i]) / top, 3)) for i in tags)
            out.append(OpenRequest(_tidy(phrase), words, weights))
        return out


def _tidy(phrase: str) -> str:
    return re.sub(r"\s+", " ", phrase).strip()
