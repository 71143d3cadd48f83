#!/usr/bin/python3
"""PyTorch side of the training-throughput comparison: the GPT of `attn train --preset bench`.

4 layers, d_model 256, 4 heads, context 256, batch 16, byte vocabulary, pre-norm blocks with a
fused QKV projection, GELU feed-forward, learned positions, an untied output head, AdamW.
Prints one JSON line: {"impl": "pytorch", "precision": ..., "tokens_per_s": ..., "step_ms": ...}.
Run with Debian's python3-torch:  /usr/bin/python3 bench/torch_gpt_train.py --threads 2 [--bf16]
--bf16 runs the forward pass and the loss under torch.autocast("cpu", dtype=torch.bfloat16):
bf16 matrix products with fp32 weights and optimiser, PyTorch's mixed precision on CPU.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


class Block(torch.nn.Module):
    def __init__(self, d, heads, ctx):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm2 = torch.nn.LayerNorm(d)
        self.up = torch.nn.Linear(d, 4 * d)
        self.down = torch.nn.Linear(4 * d, d)
        self.register_buffer("future", torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), 1))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5
        scores = scores.masked_fill(self.future[:t, :t], float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(y)
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class Gpt(torch.nn.Module):
    def __init__(self, layers, d, heads, ctx, vocab):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Embedding(ctx, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads, ctx) for _ in range(layers))
        self.norm = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast of forward and loss")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    layers, d, heads, ctx, batch, vocab = 4, 256, 4, 256, 16, 256
    model = Gpt(layers, d, heads, ctx, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    data = torch.randint(0, vocab, (batch, ctx + 1))
    x, y = data[:, :-1], data[:, 1:]

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"impl": "pytorch", "precision": "bf16" if a.bf16 else "fp32",
                      "tokens_per_s": batch * ctx / median,
                      "step_ms": median * 1e3, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
