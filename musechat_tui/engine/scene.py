"""What the video shows, in musical words, without a picture-to-word table: the image
model's classes (already weighted by confidence and agreement across frames,
analysis.agreed_labels) are mapped through the text encoder to the catalog's tag
vocabulary and a mood lexicon (a jack-o'-lantern lands near "spooky, eerie"; a seashore
near "summery, relaxed").

Similarities are corrected for hubness on both sides: a word that is close to every
ImageNet class ("dreamy" is a little close to everything) is scored by how much closer
it is to this class than to classes in general, and only words clearly above that count.
The vectors of the 1000 class names and of the words are computed once per text model and
kept on disk (text_norms.encode_fixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from musechat_tui.encoders.base import Label
from musechat_tui.encoders.imagenet_classes import IMAGENET_CLASSES
from musechat_tui.engine.text_norms import encode_fixed
from musechat_tui.engine.vocabulary import MOOD_LEXICON

WORDS_PER_SCENE = 5
MIN_LIFT = 1.5  # a word must be this many of its own spreads closer than to a typical class


def label_text(name: str) -> str:
    return f"a picture of {name}"


def word_text(word: str) -> str:
    return f"{word} music"


@dataclass
class SceneWords:
    words: dict[str, float]  # musical word -> weight (0..1), best first

    def top(self, n: int = WORDS_PER_SCENE) -> list[str]:
        return list(self.words)[:n]


class SceneReader:
    """Maps a video's labels to weighted musical words (mood lexicon + catalog tags)."""

    def __init__(self, text_encoder: Any, tag_names: list[str]) -> None:
        self.words = sorted({*MOOD_LEXICON, *tag_names})
        self.classes = list(IMAGENET_CLASSES)
        self._class_row = {name: i for i, name in enumerate(self.classes)}
        words = encode_fixed(text_encoder, [word_text(w) for w in self.words])
        classes = encode_fixed(text_encoder, [label_text(c) for c in self.classes])
        self._sims = classes @ words.T  # (classes, words)
        # Each word's typical similarity to a class, and its spread: the hub correction.
        self._mean = self._sims.mean(axis=0)
        self._spread = np.maximum(self._sims.std(axis=0), 1e-3)

    def read(self, labels: list[Label]) -> SceneWords:
        total = np.zeros(len(self.words), dtype=np.float64)
        weight_sum = 0.0
        for label in labels:
            row = self._class_row.get(label.name)
            if row is None:
                continue
            lift = (self._sims[row] - self._mean) / self._spread
            total += label.score * np.where(lift >= MIN_LIFT, lift, 0.0)
            weight_sum += label.score
        if weight_sum <= 0 or not total.any():
            return SceneWords({})
        total /= weight_sum
        order = [i for i in np.argsort(-total) if total[i] > 0][: 2 * WORDS_PER_SCENE]
        top = float(total[order[0]])
        return SceneWords({self.words[i]: round(float(total[i]) / top, 3) for i in order})
