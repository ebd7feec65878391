"""Paper §5.3 / Table 2: the generator's explanations against the dataset's (t4 of the test
quartets), for the three rows: the frozen LM given the title, the trained generator given
the music embedding only, and the trained generator given title + embedding."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from trainer.lm import RUN_FILE, Example, Generator, examples, frozen_generator, load_trained
from trainer.text_metrics import TokenF1, bleu, rouge_l


def score_generator(
    gen: Generator, data: list[Example], f1: TokenF1, max_new_tokens: int
) -> dict[str, Any]:
    t0 = time.perf_counter()
    outs = [gen.generate(ex, max_new_tokens) for ex in data]
    refs = [ex.response for ex in data]
    return {
        "BERTScore-F1": float(np.mean(f1(outs, refs))),
        "BLEU": bleu(outs, refs),
        "ROUGE-L": rouge_l(outs, refs),
        "n": len(data),
        "seconds": time.perf_counter() - t0,
        "examples": [
            {"reference": r, "generated": o} for r, o in zip(refs[:3], outs[:3], strict=True)
        ],
    }


def table2(
    data_dir: Path,
    runs: list[Path],
    *,
    frozen_base: str | None = None,
    limit: int = 50,
    max_new_tokens: int = 48,
) -> dict[str, Any]:
    data = examples(Path(data_dir), "test", include_t2=False, limit=limit)
    f1 = TokenF1()
    rows = []
    if frozen_base is not None:
        fmt = "chatml"
        if runs:  # prompt the frozen LM in the chat format the trained ones use
            fmt = json.loads((Path(runs[0]) / RUN_FILE).read_text())["projector"]["chat_format"]
        row = score_generator(frozen_generator(frozen_base, fmt), data, f1, max_new_tokens)
        rows.append({"trainable": "No", "input": "Music Title", **row})
    for run in runs:
        gen = load_trained(run, merge=True)  # same outputs, faster generation
        pc = gen.pcfg
        what = " + ".join(
            x
            for x, on in (
                ("Music Title", pc.use_title),
                ("Embeddings" if pc.use_title else "Music Embeddings", pc.use_embedding),
            )
            if on
        )
        rows.append(
            {
                "trainable": "Yes",
                "input": what,
                "run": str(run),
                **score_generator(gen, data, f1, max_new_tokens),
            }
        )
    return {"dataset": str(data_dir), "test_examples": len(data), "rows": rows}


def format_table2(result: dict[str, Any]) -> str:
    head = (
        f"{'Trainable':<10} {'Input Modality':<28} {'BERTScore F1':>13} {'BLEU':>7} {'ROUGE-L':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(
            f"{r['trainable']:<10} {r['input']:<28} {r['BERTScore-F1']:>13.4f} "
            f"{r['BLEU']:>7.2f} {r['ROUGE-L']:>8.2f}"
        )
    lines.append(f"{result['test_examples']} test explanations (t4); {result['dataset']}")
    return "\n".join(lines)
