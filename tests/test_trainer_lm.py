"""musechat-trainer, the generator half: prompt layout and response-only labels, LoRA
training, Table 2, and the GGUF export matching the merged model (greedy, on a tiny LM)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from musechat_tui.models.projector import Projector, ProjectorConfig, layout
from trainer.cli import app
from trainer.config import LMConfig, load_lm_config
from trainer.lm import Example, build_generator, load_trained, train_lm
from trainer.toydata import make_toy_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=32, n_test=8)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer (read from the packaged
    GGUF once, then cached), so llama.cpp's converter recognises the vocabulary."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from trainer.lm import smollm2_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        initializer_range=0.2,
        rms_norm_eps=1e-5,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_projector_file_round_trip(tmp_path: Path) -> None:
    p = Projector(ProjectorConfig(in_dim=24, n_embd=64, n_prefix=2, kind="mlp2x_gelu"))
    p.save(tmp_path / "projector.safetensors")
    q = Projector.load(tmp_path / "projector.safetensors")
    x = torch.randn(3, 24)
    assert q.cfg == p.cfg and torch.equal(q(x), p(x)) and q(x).shape == (3, 2, 64)
    rows = q.prefix(x[0].numpy())  # what the app hands llama.cpp
    assert rows.shape == (2, 64) and rows.dtype == np.float32
    assert np.allclose(rows, q(x[:1])[0].detach().numpy())


def test_layout_and_response_only_labels(tiny_lm: Path) -> None:
    gen = build_generator(LMConfig(base=str(tiny_lm), n_prefix=2), 24, "toy-audio")
    ex = [
        Example(np.ones(24, np.float32), "Warm Target 3", "It is warm and slow."),
        Example(np.ones(24, np.float32), "B", "Short."),
    ]
    batch = gen.collate(ex, max_length=128)
    for i, e in enumerate(ex):
        kept = batch["labels"][i][batch["labels"][i] != -100].tolist()
        assert gen.tok.decode(kept) == e.response + "<|im_end|>"  # the loss sees the answer only
    before, after, _ = layout(gen.pcfg, "Warm Target 3")
    assert gen.tok.decode(gen.before_ids) == before and before.endswith("Music: ")
    assert '"Warm Target 3"' in after
    emb, att = gen.embed(batch["ids"], batch["music"], batch["mask"])
    assert emb.shape[1] == len(gen.before_ids) + 2 + batch["ids"].shape[1]
    # The loss (logits kept from the first response token on) is the full-sequence loss.
    head = torch.full((2, emb.shape[1] - batch["ids"].shape[1]), -100)
    full = torch.cat([head, batch["labels"]], 1)
    with torch.no_grad():
        ref = gen.lm(inputs_embeds=emb, attention_mask=att, labels=full).loss
        assert float(gen(batch)) == pytest.approx(float(ref), rel=1e-5)
    trainable = {n for n, p in gen.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("projector.") for n in trainable)
    no_title = layout(ProjectorConfig(use_title=False), "Warm Target 3")
    assert "Warm Target 3" not in "".join(no_title)


@pytest.fixture(scope="module")
def lm_run(toy: Path, tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lm-run")
    cfg = load_lm_config(
        None,
        [
            f"data.dir={toy}",
            f"lm.base={tiny_lm}",
            f"lm.out_dir={out}",
            "lm.max_steps=30",
            "lm.batch_size=8",
            "lm.lr=0.01",
            "lm.lora_dropout=0.0",
            "lm.log_every=5",
            "lm.warmup_steps=2",
        ],
    )
    return out, train_lm(cfg)


def test_lora_training_reduces_the_loss(lm_run: tuple[Path, dict]) -> None:
    out, summary = lm_run
    assert summary["final_loss"] < 0.85 * summary["first_loss"]
    assert (out / "adapter" / "adapter_config.json").exists()
    assert (out / "projector.safetensors").exists() and (out / "lm_run.json").exists()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 30


def test_eval_lm_prints_table2(toy: Path, tiny_lm: Path, lm_run: tuple[Path, dict]) -> None:
    res = CliRunner().invoke(
        app,
        [
            "eval-lm",
            "--data",
            str(toy),
            "--run",
            str(lm_run[0]),
            "--frozen",
            str(tiny_lm),
            "--limit",
            "3",
            "--max-new-tokens",
            "8",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    table = json.loads(res.stdout)
    assert [(r["trainable"], r["input"]) for r in table["rows"]] == [
        ("No", "Music Title"),
        ("Yes", "Music Title + Embeddings"),
    ]
    for r in table["rows"]:
        assert 0.0 <= r["BERTScore-F1"] <= 1.0 and r["n"] == 3
        assert 0.0 <= r["BLEU"] <= 100.0 and 0.0 <= r["ROUGE-L"] <= 100.0


def test_token_f1_is_one_for_identical_text() -> None:
    from trainer.text_metrics import TokenF1, bleu, rouge_l

    f1 = TokenF1()
    same, other = f1(["a calm piano piece"] * 2, ["a calm piano piece", "loud techno drums"])
    assert same == pytest.approx(1.0, abs=1e-5) and other < 0.9
    assert bleu(["a calm piano piece"], ["a calm piano piece"]) == pytest.approx(100.0)
    assert rouge_l(["a calm piano piece"], ["a calm piano piece"]) == pytest.approx(100.0)


def test_export_gguf_matches_the_merged_model(lm_run: tuple[Path, dict], tmp_path: Path) -> None:
    from trainer.export import converter_dir

    # scripts/install.sh fetches the converter (llama-cpp-python's source distribution).
    converter_dir(download=False)
    res = CliRunner().invoke(
        app,
        ["export", "--run", str(lm_run[0]), "--out", str(tmp_path), "--outtype", "f32", "--json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    gguf = tmp_path / doc["gguf"]
    assert gguf.exists() and (tmp_path / "projector.safetensors").exists()
    merged = load_trained(lm_run[0], merge=True)
    assert not any("lora_" in n for n, _ in merged.lm.named_parameters())
    # Plain prompt: greedy tokens of llama.cpp on the GGUF == transformers on the merged model.
    from llama_cpp import Llama

    prompt = "<|im_start|>user\nWhy does this song fit my video?<|im_end|>\n<|im_start|>assistant\n"
    ids = merged.tok(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        # The prompt holds <|im_end|>, SmolLM2's pad token too: pass the mask, or transformers
        # would take those positions for padding.
        x = torch.tensor([ids])
        out = merged.lm.generate(
            x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=16,
            do_sample=False,
            eos_token_id=None,
        )
        want = out[0, len(ids) :].tolist()
    llm = Llama(str(gguf), n_ctx=256, verbose=False, seed=0)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
    got = []
    for tok in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0):
        got.append(tok)
        if len(got) == len(want):
            break
    llm.close()
    assert got == want
    # With the music prefix, as the app runs it: settings that name the exported GGUF find
    # the projector beside it, and the explanation is the merged model's greedy text.
    from musechat_tui.config import load_settings
    from musechat_tui.explain.facts import ExplanationFacts, TrackFacts
    from musechat_tui.explain.guard import build_explainer
    from musechat_tui.explain.llama import PrefixLlamaExplainer

    settings = load_settings(tmp_path / "none.toml", llm_model=gguf, llm_max_tokens=12)
    explainer = build_explainer(settings)
    assert isinstance(explainer, PrefixLlamaExplainer)
    ex = Example(np.random.default_rng(0).normal(size=24).astype(np.float32), "Warm Target 3", "")
    track = TrackFacts(ex.title, None, None, None, 60.0, None, None, (), vector=ex.embedding)
    try:
        text = "".join(explainer.stream(ExplanationFacts(track, 1, "a video"))).strip()
    finally:
        explainer.close()
    assert text == merged.generate(ex, max_new_tokens=12)


def test_smollm2_dequantised_from_the_packaged_gguf_agrees_with_llama_cpp() -> None:
    """The default base LM: the Q4_1 GGUF dequantised by transformers (cached; ~1 min the
    first time)."""
    import llama_cpp

    from trainer.lm import load_base, packaged_gguf

    lm, tok = load_base("smollm2")
    assert lm.config.hidden_size == 576 and lm.config.num_hidden_layers == 30
    prompt = "<|im_start|>user\nName a calm piano piece.<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        ours = lm(torch.tensor([ids])).logits[0, -1].numpy()
    # Without weight repacking: llama.cpp's AMX kernels for Q4 weights die with SIGILL on
    # VMs that advertise AMX without enabling it (the app's loader does the same).
    from musechat_tui.explain.llama import _weight_repacking

    with _weight_repacking(False):
        llm = llama_cpp.Llama(str(packaged_gguf()), n_ctx=256, verbose=False, logits_all=True)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
    llm.eval(ids)
    theirs = np.array(llm.scores[len(ids) - 1])
    llm.close()
    # Same weights; llama.cpp also quantises the activations in its Q4_1 kernels.
    assert int(ours.argmax()) == int(theirs.argmax())
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99
