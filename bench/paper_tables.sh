#!/usr/bin/env bash
# The paper's Table 1 and Table 2 on the offline synthetic corpus, end to end on CPU:
# a music library rendered from music21's corpus, N audio-driven visualiser videos
# (synthetic, see README), the dataset of paper §3, the recommender and the two-tower
# baseline (§4.1), Table 1; the LoRA generator (§4.2) in two variants, Table 2; export.
# Every step is resumable: rerun the script after an interruption.
#
#   bash bench/paper_tables.sh OUT [N_PIECES] [SECONDS]     (defaults: 160 pieces, 60 s)
#
# Some corpus works cannot be rendered (they are skipped): 160 gave 132 tracks.
#
# Writes OUT/table1.json, OUT/table2.json, OUT/synth.json and OUT/times.tsv.
set -euo pipefail
OUT=${1:?usage: paper_tables.sh OUT [N_PIECES] [SECONDS]}
N=${2:-160}
SECONDS_PER_VIDEO=${3:-60}
BIN=${BIN:-.venv/bin}
mkdir -p "$OUT"
step() {  # step NAME COMMAND...: run, and record its wall time
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "== $name: $*" >&2
  "$@"
  printf '%s\t%d s\n' "$name" $(($(date +%s) - t0)) >> "$OUT/times.tsv"
}

step library bash -c "for i in 0 1; do $BIN/python bench/paper_library.py '$OUT/music' $N --shard \$i/2 & done; wait"
TRACKS=$(find "$OUT/music" -name '*.ogg' | wc -l)  # one video per rendered track
step synth bash -c "$BIN/musechat-builder synth '$OUT/videos' --out '$OUT/dataset' \
  --synthetic $TRACKS --music '$OUT/music' --synthetic-seconds $SECONDS_PER_VIDEO \
  --test-fraction 0.25 --jobs 1 --json > '$OUT/synth.json'"
DATA=$OUT/dataset
step train-musechat "$BIN/musechat-trainer" train --config cpu-musechat.toml \
  --set data.dir="$DATA" --set train.out_dir="$OUT/musechat" --resume auto
step train-baseline "$BIN/musechat-trainer" train --config cpu-baseline.toml \
  --set data.dir="$DATA" --set train.out_dir="$OUT/baseline" --resume auto
step table1 bash -c "$BIN/musechat-trainer evaluate --data '$DATA' \
  --model '$OUT/musechat/model.pt' --baseline '$OUT/baseline/model.pt' --json > '$OUT/table1.json'"
step train-lm-title "$BIN/musechat-trainer" train-lm --config cpu-lm.toml \
  --set data.dir="$DATA" --set lm.out_dir="$OUT/generator"
step train-lm-emb "$BIN/musechat-trainer" train-lm --config cpu-lm.toml \
  --set data.dir="$DATA" --set lm.use_title=false --set lm.out_dir="$OUT/generator-emb"
step table2 bash -c "$BIN/musechat-trainer eval-lm --data '$DATA' --frozen smollm2 \
  --run '$OUT/generator-emb' --run '$OUT/generator' --json > '$OUT/table2.json'"
step export "$BIN/musechat-trainer" export --run "$OUT/generator" --out "$OUT/generator-gguf"
cat "$OUT/times.tsv"
