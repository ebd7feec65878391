#!/usr/bin/env bash
# One short check of the recommender's multi-GPU path on a machine with NVIDIA GPUs: trains
# for a few hundred steps under `accelerate launch` (bf16, every GPU, the loss all-gathered
# across processes), evaluates Table 1 on the test split, and prints samples/s and the loss
# curve. Needs a python3 with CUDA torch and accelerate (a GPU image has them); the few other
# modules the trainer imports are installed from .whl/ when that folder is there (wheels
# carried to a machine with no package index), else from the index.
#
#   bash bench/gpu_check.sh [DATASET] [STEPS]
#
# DATASET: a dataset folder made by `musechat-builder synth` (e.g. the synthetic corpus of
# bench/paper_tables.sh); without one, a 4,096-video dataset of the same on-disk format with a
# known learnable structure is written first (`musechat-trainer toy-data`).
# STEPS: optimizer steps (default 300). Writes everything under ${OUT:-/tmp/gpu_check}.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu_check}
DATA=${1:-}
STEPS=${2:-300}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
missing=$("$PY" - <<'EOF'
import importlib.util
mods = {"typer": "typer", "pydantic_settings": "pydantic-settings", "platformdirs": "platformdirs",
        "safetensors": "safetensors", "accelerate": "accelerate", "tensorboard": "tensorboard",
        "rich": "rich"}
print(" ".join(pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [ -n "$missing" ]; then
  echo "installing: $missing"
  if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --target "$OUT/site" .whl/*.whl
    export PYTHONPATH=$PYTHONPATH:$OUT/site
  else
    "$PY" -m pip install -q $missing
  fi
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__)"
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")

if [ -z "$DATA" ]; then
  DATA=$OUT/toy
  [ -f "$DATA/manifest.json" ] || "$PY" -m trainer.cli toy-data "$DATA" --n-train 4096 --n-test 512
fi

LAUNCH=(accelerate launch --num_processes "$NGPU" --num_machines 1 --mixed_precision bf16 --dynamo_backend no)
[ "$NGPU" -gt 1 ] && LAUNCH+=(--multi_gpu)
rm -rf "$OUT/run"
t0=$(date +%s)
"${LAUNCH[@]}" -m trainer.cli train --config gpu-musechat.toml \
  --set data.dir="$DATA" --set train.out_dir="$OUT/run" --set train.max_steps="$STEPS" \
  --set train.log_every=25 --set train.warmup_steps=30 --set train.checkpoint_every=0 \
  --set data.num_workers=4 --json | tee "$OUT/train.json"
echo "train: $(( $(date +%s) - t0 )) s wall on $NGPU GPU(s)"

"$PY" -m trainer.cli evaluate --data "$DATA" --model "$OUT/run/model.pt" --no-zero-shot \
  --pool-size 500 --pools 5 | tee "$OUT/table1.txt"

"$PY" - "$OUT/run/metrics.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("step   loss     samples/s")
for r in rows:
    print(f"{r['step']:>5}  {r['loss']:.4f}  {r.get('samples_per_s', 0):>9.0f}")
EOF
