"""Table 2's text metrics, offline: a BERTScore-style F1 on all-MiniLM-L6-v2 token
embeddings (the packaged model; greedy cosine matching of Zhang et al., no idf weights, no
baseline rescaling), corpus BLEU (sacrebleu) and ROUGE-L F1 (rouge-score)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F


class TokenF1:
    """BERTScore-style F1 of candidate vs reference with MiniLM's last-layer token vectors."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        if model_dir is None:
            from musechat_tui.encoders.minilm import packaged_model_dir

            model_dir = packaged_model_dir()
        self.tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()

    @torch.inference_mode()
    def _tokens(self, text: str) -> torch.Tensor:
        enc = self.tok(
            text or ".",
            return_tensors="pt",
            truncation=True,
            max_length=256,
            return_special_tokens_mask=True,
        )
        keep = enc.pop("special_tokens_mask")[0] == 0  # BERTScore drops [CLS] and [SEP]
        hidden = self.model(**enc).last_hidden_state[0]
        return F.normalize(hidden[keep] if keep.any() else hidden, dim=-1)

    def __call__(self, candidates: list[str], references: list[str]) -> list[float]:
        out = []
        for c, r in zip(candidates, references, strict=True):
            sim = self._tokens(c) @ self._tokens(r).T
            p, rec = sim.max(1).values.mean(), sim.max(0).values.mean()
            out.append(float(2 * p * rec / (p + rec)) if p + rec > 0 else 0.0)
        return out


def bleu(candidates: list[str], references: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(candidates, [references]).score)


def rouge_l(candidates: list[str], references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [
        scorer.score(r, c)["rougeL"].fmeasure for c, r in zip(candidates, references, strict=True)
    ]
    return 100.0 * sum(scores) / max(1, len(scores))
