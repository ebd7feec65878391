"""Audio Spectrogram Transformer (Gong et al., 2021) through transformers, for users who
have AST weights (e.g. MIT/ast-finetuned-audioset-10-10-0.4593 as a local folder or hub id).

No AST weights can be installed offline here, so musicnn is the default audio encoder;
this path is tested on a tiny randomly initialised ASTConfig.

Embedding: the model's pooled output (mean of the [CLS] and distillation tokens after the
final layer norm), hidden_size-d. When the checkpoint has a classification head
(ASTForAudioClassification) its label probabilities are exposed as tags["audioset"], with
names from config.id2label: sigmoid per label, since AudioSet is multi-label, or softmax
when the config says problem_type="single_label_classification".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musechat_tui.encoders.base import AudioEncoder, AudioFeatures
from musechat_tui.errors import ModelLoadError

SR = 16_000
AST_MODEL_TYPE = "audio-spectrogram-transformer"
TAG_VOCAB = "audioset"


def _looks_like_path(name: str) -> bool:
    """Hub ids are "name" or "namespace/name"; anything else is meant as a local folder."""
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1


def model_id(name: str) -> str:
    """The id of an AST encoder configured with `name` (known without loading it)."""
    return f"ast:{name}"


class ASTAudioEncoder(AudioEncoder):
    """AST on torch (CPU): pooled-output embeddings and, with a head, label probabilities."""

    sample_rate = SR

    def __init__(self, model: str, batch_size: int = 16, threads: int | None = None) -> None:
        import torch
        from transformers import (
            ASTFeatureExtractor,
            ASTForAudioClassification,
            ASTModel,
            AutoConfig,
        )

        if threads is not None:
            torch.set_num_threads(int(threads))  # process-wide, like every torch encoder
        self.model_name = str(model)
        self.batch_size = max(1, int(batch_size))
        local = Path(self.model_name).expanduser()
        if local.exists():
            source = str(local)
        elif _looks_like_path(self.model_name):
            raise ModelLoadError(f"{local}: AST model folder does not exist")
        else:
            source = self.model_name  # a hub id ("namespace/name"), resolved by transformers
        try:
            config = AutoConfig.from_pretrained(source)
        except Exception as exc:  # OSError, ValueError, hub errors: all mean "cannot load"
            raise ModelLoadError(f"AST model {self.model_name!r} cannot be loaded: {exc}") from None
        if getattr(config, "model_type", None) != AST_MODEL_TYPE:
            raise ModelLoadError(
                f"AST model {self.model_name!r} is a {config.model_type!r} model, "
                f"not {AST_MODEL_TYPE!r}"
            )
        self._has_head = any(
            a.endswith("ForAudioClassification") for a in (config.architectures or [])
        )
        try:
            self._features = ASTFeatureExtractor.from_pretrained(source)
            cls = ASTForAudioClassification if self._has_head else ASTModel
            self._model = cls.from_pretrained(source, config=config).eval()
        except Exception as exc:
            raise ModelLoadError(f"AST model {self.model_name!r} cannot be loaded: {exc}") from None
        if self._features.sampling_rate != self.sample_rate:
            raise ModelLoadError(
                f"AST model {self.model_name!r}: feature extractor expects "
                f"{self._features.sampling_rate} Hz audio, MuseChat gives {self.sample_rate} Hz"
            )

        self.dim = int(config.hidden_size)
        # The configured name, so catalogs built with another AST checkpoint are detected.
        self.id = model_id(self.model_name)
        self._multi_label = getattr(config, "problem_type", None) != "single_label_classification"
        self._tag_names = (
            [str(config.id2label[i]) for i in range(config.num_labels)] if self._has_head else []
        )

    def encode(self, segments: list[np.ndarray]) -> AudioFeatures:
        """Mono float32 16 kHz segments -> (S, hidden_size) pooled outputs (+ label probs)."""
        import torch

        embeddings: list[np.ndarray] = []
        probs: list[np.ndarray] = []
        for i, seg in enumerate(segments):
            if np.asarray(seg).ndim != 1:
                shape = np.asarray(seg).shape
                raise ValueError(f"segment {i}: expected mono 1-D audio, got shape {shape}")
        for start in range(0, len(segments), self.batch_size):
            batch = [
                np.asarray(s, dtype=np.float32) for s in segments[start : start + self.batch_size]
            ]
            inputs = self._features(batch, sampling_rate=self.sample_rate, return_tensors="pt")
            with torch.inference_mode():
                if self._has_head:
                    out = self._model.audio_spectrogram_transformer(inputs["input_values"])
                    logits = self._model.classifier(out.pooler_output)
                    p = torch.sigmoid(logits) if self._multi_label else logits.softmax(-1)
                    probs.append(p.float().numpy())
                else:
                    out = self._model(inputs["input_values"])
            embeddings.append(out.pooler_output.float().numpy())

        if not embeddings:
            emb = np.zeros((0, self.dim), dtype=np.float32)
            probs = [np.zeros((0, len(self._tag_names)), dtype=np.float32)]
        else:
            emb = np.concatenate(embeddings).astype(np.float32)
        if not self._has_head:
            return AudioFeatures(embeddings=emb)
        return AudioFeatures(
            embeddings=emb,
            tags={TAG_VOCAB: np.concatenate(probs).astype(np.float32)},
            tag_names={TAG_VOCAB: list(self._tag_names)},
        )
