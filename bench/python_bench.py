"""Benchmarks of the Python package (figures in docs/PERFORMANCE.md, section "Python").

    PYTHONPATH=build/release/python python3 bench/python_bench.py [--steps 3] [--threads N]
                                                                  [--skip-train]

1. Per-call overhead: attn.scaled_dot_product_attention and attn.flash_attn_func on a tiny
   problem (1x1x16x64, NumPy and torch inputs) against the same kernel call timed in C++.
2. Training: a GPT-style PyTorch model (4 layers, d_model 256, 4 heads, context 2048,
   batch 4, causal) trained a few steps with attn.torch.MultiheadAttention and with
   torch.nn.MultiheadAttention, each in its own process (so that each has its own peak
   resident memory): tokens/s and peak RSS, and their ratios.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import timeit

import numpy as np


def per_call_us(fn, number=20000, repeat=5):
    """The best of `repeat` means over `number` calls, in microseconds of this thread's CPU
    time (other load on the machine does not count)."""
    timer = timeit.Timer(fn, timer=time.thread_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number * 1e6


def overhead():
    import torch

    import attn
    from attn._spec import Spec

    attn.set_num_threads(1)  # a tiny problem: threads only add noise
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 16, 64), dtype=np.float32) for _ in range(3))
    qt, kt, vt = (torch.from_numpy(x) for x in (q, k, v))
    qf, kf, vf = (x.transpose(0, 2, 1, 3) for x in (q, k, v))  # [B, L, H, D] views
    qtf, ktf, vtf = (torch.from_numpy(x) for x in (qf, kf, vf))
    cpp = attn._attn.time_forward(q, k, v, Spec().as_tuple(), 200000) * 1e6
    rows = {
        "C++ flash_attention_forward": cpp,
        "sdpa, NumPy": per_call_us(lambda: attn.scaled_dot_product_attention(q, k, v)),
        "sdpa, torch": per_call_us(lambda: attn.scaled_dot_product_attention(qt, kt, vt)),
        "flash_attn_func, NumPy": per_call_us(lambda: attn.flash_attn_func(qf, kf, vf)),
        "flash_attn_func, torch": per_call_us(lambda: attn.flash_attn_func(qtf, ktf, vtf)),
        "torch SDPA math (reference)": per_call_us(
            lambda: torch.softmax(qt @ kt.transpose(-1, -2) * 0.125, -1) @ vt),
    }
    print("\nPer-call CPU time, 1x1x16x64 float32, one thread (best of 5 x 20,000 calls)")
    print(f"{'call':<32} {'us/call':>8} {'overhead':>9}")
    for name, us in rows.items():
        extra = "" if name.startswith(("C++", "torch")) else f"{us - cpp:8.2f}"
        print(f"{name:<32} {us:8.2f} {extra:>9}")
    return rows


# ---------------------------------------------------------------- training


def gpt_model(attention_cls, vocab=256, d_model=256, heads=4, layers=4, context=2048):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.attn = attention_cls(d_model, heads, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                     nn.Linear(4 * d_model, d_model))

        def forward(self, x, mask):
            h = self.norm1(x)
            if mask is None:  # attn: the causal mask is an option of the kernel
                y, _ = self.attn(h, h, h, need_weights=False, is_causal=True)
            else:
                y, _ = self.attn(h, h, h, need_weights=False, attn_mask=mask)
            x = x + y
            return x + self.mlp(self.norm2(x))

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d_model), nn.Embedding(context, d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, vocab, bias=False)

        def forward(self, ids, mask):
            x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x, mask)
            return self.head(self.norm(x))

    return Gpt()


def train(variant, steps, threads, batch=4, context=2048):
    """Runs in a child process: prints one JSON line with tokens/s and peak RSS."""
    import torch

    torch.set_num_threads(threads)  # PyTorch's default is the physical cores: maybe fewer
    if variant == "attn":
        import attn
        attn.set_num_threads(threads)
        import attn.torch
        cls, mask = attn.torch.MultiheadAttention, None
    else:
        cls = torch.nn.MultiheadAttention
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
    torch.manual_seed(0)
    model = gpt_model(cls, context=context)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    data = torch.randint(0, 256, (batch, context + 1), generator=torch.Generator().manual_seed(1))
    losses, start, cpu_start = [], None, None
    for step in range(steps + 1):  # step 0 warms up
        if step == 1:
            start, cpu_start = time.perf_counter(), time.process_time()
        logits = model(data[:, :-1], mask)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), data[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(round(loss.item(), 4))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "tokens_per_s": batch * context * steps / seconds,
                      "s_per_step": seconds / steps, "cpu_s_per_step": cpu_seconds / steps,
                      "peak_rss_mib": peak_mib,
                      "losses": losses, "threads": torch.get_num_threads()}))


def training(steps, threads):
    results = {}
    for variant in ("attn", "torch"):
        run = subprocess.run([sys.executable, __file__, "--train-child", variant, "--steps",
                              str(steps), "--threads", str(threads)], capture_output=True,
                             text=True, env=os.environ)
        if run.returncode != 0:
            raise RuntimeError(f"{variant}: {run.stderr}")
        results[variant] = json.loads(run.stdout.strip().splitlines()[-1])
    a, t = results["attn"], results["torch"]
    print(f"\nGPT training: 4 layers, d_model 256, 4 heads, context 2048, batch 4, causal; "
          f"{steps} steps after one warm-up, {a['threads']} threads")
    print(f"{'module':<32} {'tokens/s':>9} {'s/step':>7} {'CPU s/step':>11} "
          f"{'peak RSS MiB':>13}")
    for name, r in (("attn.torch.MultiheadAttention", a), ("torch.nn.MultiheadAttention", t)):
        print(f"{name:<32} {r['tokens_per_s']:9.0f} {r['s_per_step']:7.2f} "
              f"{r['cpu_s_per_step']:11.2f} {r['peak_rss_mib']:13.0f}")
    print(f"ratio attn / torch: {a['tokens_per_s'] / t['tokens_per_s']:.2f}x tokens/s "
          f"({t['cpu_s_per_step'] / a['cpu_s_per_step']:.2f}x by CPU time per step), "
          f"{a['peak_rss_mib'] / t['peak_rss_mib']:.2f}x peak RSS")
    print(f"losses attn {a['losses']}\nlosses torch {t['losses']}")
    return results


def main():
    parser = argparse.ArgumentParser(description="benchmarks of the attn Python package")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads of both PyTorch and attn in the training runs")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--train-child", choices=["attn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_child:
        return train(args.train_child, args.steps, args.threads)
    import attn
    print(f"attn {attn.__version__}, SIMD target {attn.simd_target()}, "
          f"{os.cpu_count()} CPUs")
    overhead()
    if not args.skip_train:
        training(args.steps, args.threads)


if __name__ == "__main__":
    main()
