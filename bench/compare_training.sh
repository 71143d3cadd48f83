#!/usr/bin/env bash
# Training throughput of attn against PyTorch on the same GPT configuration and threads.
#   bench/compare_training.sh [THREADS]
# Installs Debian's python3-torch when it is missing (needs apt-get), builds attn Release, then
# runs both trainers one after the other and prints their tokens/s and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}

if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "installing python3-torch ..."
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-torch >/dev/null
fi
make -s release >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
OMP_NUM_THREADS=$threads build/release/attn train --preset bench --steps 12 \
  --out "$out/bench.safetensors" --json | tail -n 1 > "$out/attn.json"
/usr/bin/python3 bench/torch_gpt_train.py --threads "$threads" --steps 12 > "$out/torch.json"

/usr/bin/python3 - "$out/attn.json" "$out/torch.json" "$threads" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
print(f"GPT training, 4 layers, d_model 256, 4 heads, context 256, batch 16, {sys.argv[3]} threads")
print(f"  attn     {a['tokens_per_s']:10.0f} tokens/s")
print(f"  PyTorch  {t['tokens_per_s']:10.0f} tokens/s  (torch {t['torch']})")
print(f"  ratio    {a['tokens_per_s'] / t['tokens_per_s']:10.2f}x")
PY
