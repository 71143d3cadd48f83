#!/usr/bin/env bash
# Training throughput of attn against PyTorch on the same GPT configuration and threads.
#   bench/compare_training.sh [THREADS] [ROUNDS]
# Installs Debian's python3-torch when it is missing (needs apt-get), builds attn Release, then
# runs four trainers ROUNDS times, interleaved (attn fp32, attn --precision bf16, PyTorch fp32,
# PyTorch with bf16 autocast), and prints the median tokens/s of each and the ratios. The bf16
# rows run only where the CPU has bf16 instructions (attn reports the precision it used).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
rounds=${2:-1}

if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "installing python3-torch ..."
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-torch >/dev/null
fi
make -s release >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
attn_run() {  # PRECISION: one JSON line
  OMP_NUM_THREADS=$threads build/release/attn train --preset bench --steps 12 --precision "$1" \
    --out "$out/bench.safetensors" --json | tail -n 1
}
for ((r = 0; r < rounds; ++r)); do
  attn_run fp32 >> "$out/attn_fp32.jsonl"
  attn_run bf16 >> "$out/attn_bf16.jsonl"
  /usr/bin/python3 bench/torch_gpt_train.py --threads "$threads" --steps 12 >> "$out/torch_fp32.jsonl"
  if grep -q '"precision": *"bf16"' "$out/attn_bf16.jsonl"; then
    /usr/bin/python3 bench/torch_gpt_train.py --threads "$threads" --steps 12 --bf16 \
      >> "$out/torch_bf16.jsonl"
  fi
done

/usr/bin/python3 - "$out" "$threads" "$rounds" <<'PY'
import json, os, statistics, sys
out, threads, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
def median(name):
    path = os.path.join(out, name + ".jsonl")
    if not os.path.exists(path):
        return None
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if name == "attn_bf16" and rows[0].get("precision") != "bf16":
        return None  # the CPU has no bf16 instructions: attn ran fp32
    return statistics.median(r["tokens_per_s"] for r in rows)
r = {n: median(n) for n in ("attn_fp32", "attn_bf16", "torch_fp32", "torch_bf16")}
print(f"GPT training, 4 layers, d_model 256, 4 heads, context 256, batch 16, {threads} threads,"
      f" median of {rounds} round(s)")
labels = {"attn_fp32": "attn fp32", "attn_bf16": "attn bf16 products",
          "torch_fp32": "PyTorch fp32", "torch_bf16": "PyTorch bf16 autocast"}
for n, label in labels.items():
    if r[n] is not None:
        print(f"  {label:24s} {r[n]:10.0f} tokens/s")
def ratio(label, a, b):
    if r[a] is not None and r[b] is not None:
        print(f"  {label:40s} {r[a] / r[b]:6.2f}x")
ratio("attn fp32 / PyTorch fp32", "attn_fp32", "torch_fp32")
ratio("attn bf16 / PyTorch bf16 autocast", "attn_bf16", "torch_bf16")
best = "attn_bf16" if r["attn_bf16"] is not None else "attn_fp32"
ratio(f"attn best ({labels[best]}) / PyTorch fp32", best, "torch_fp32")
PY
