"""Export the trained generator for the app: merge the LoRA into the LM, convert it to GGUF
with llama.cpp's own converter, and put the projector beside it.

The converter (convert_hf_to_gguf.py, its conversion/ package and the gguf-py it needs;
PyPI's `gguf` is not the same version) ships only in llama-cpp-python's *source*
distribution, for the llama.cpp the installed wheel was built from. It is taken from
MUSECHAT_LLAMA_CPP_SRC, else from the cache, else downloaded once with
`pip download --no-deps --no-binary :all: llama-cpp-python==<installed version>`.

Output folder: generator-<outtype>.gguf, projector.safetensors, export.json (and hf/, the
merged transformers model, with --keep-hf).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from trainer.lm import cache_dir, load_trained

CONVERTER = "convert_hf_to_gguf.py"
WANTED = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def converter_dir(download: bool = True, sdist: Path | None = None) -> Path:
    """Folder holding convert_hf_to_gguf.py with its conversion/ and gguf-py/."""
    if env := os.environ.get("MUSECHAT_LLAMA_CPP_SRC"):
        return Path(env)
    ver = version("llama-cpp-python")
    out = cache_dir() / f"llama.cpp-converter-{ver}"
    if (out / CONVERTER).exists():
        return out
    if sdist is None:
        if not download:
            raise FileNotFoundError(f"{out}: llama.cpp's converter is not cached")
        tmp = Path(tempfile.mkdtemp(prefix="musechat-sdist-"))
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"llama-cpp-python=={ver}",
            "-d",
            str(tmp),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        sdist = next(tmp.glob("llama_cpp_python-*.tar.gz"))
    extract_converter(sdist, out)
    return out


def extract_converter(sdist: Path, out: Path) -> None:
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        for m in tar.getmembers():
            _, _, rel = m.name.partition("/vendor/llama.cpp/")
            if rel and m.isfile() and any(rel == w or rel.startswith(w) for w in WANTED):
                m.name = rel
                tar.extract(m, part, filter="data")
    if not (part / CONVERTER).exists():
        raise FileNotFoundError(f"{sdist}: no vendor/llama.cpp/{CONVERTER} inside")
    shutil.rmtree(out, ignore_errors=True)
    part.rename(out)


def convert_to_gguf(hf_dir: Path, outfile: Path, outtype: str = "f16") -> Path:
    conv = converter_dir()
    cmd = [
        sys.executable,
        str(conv / CONVERTER),
        str(hf_dir),
        "--outfile",
        str(outfile),
        "--outtype",
        outtype,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"GGUF conversion failed:\n{proc.stderr[-4000:]}")
    return outfile


def export(
    run_dir: Path, out_dir: Path, outtype: str = "f16", keep_hf: bool = False
) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = load_trained(Path(run_dir), merge=True)
    hf = out_dir / "hf"
    gen.lm.save_pretrained(hf)
    gen.tok.save_pretrained(hf)
    gguf = convert_to_gguf(hf, out_dir / f"generator-{outtype}.gguf", outtype)
    gen.projector.save(out_dir / "projector.safetensors")
    doc = {
        "gguf": gguf.name,
        "projector": "projector.safetensors",
        "run": str(run_dir),
        "outtype": outtype,
        "projector_config": asdict(gen.pcfg),
    }
    (out_dir / "export.json").write_text(json.dumps(doc, indent=2))
    if not keep_hf:
        shutil.rmtree(hf)
    return {**doc, "out": str(out_dir)}
