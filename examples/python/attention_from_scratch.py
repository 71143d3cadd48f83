"""Self-attention from scratch in NumPy, one step at a time, each step checked against attn.

    softmax(Q·Kᵀ / √d + mask) · V

Run it: PYTHONPATH=build/release/python python3 examples/python/attention_from_scratch.py
It prints each step and draws the attention weights of every head to attention_heads.png
(or --out PATH). It is also a test (tests/python/test_tutorial.py): every check must pass.
"""

import argparse
import pathlib
import tempfile

import numpy as np

import attn
import attn.viz


def check(name, ours, theirs, tol=1e-5):
    """Prints the largest difference between a step and attn's result, and insists it is
    small."""
    err = float(np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)).max())
    print(f"  {name:<46} max |ours − attn| = {err:.1e}")
    assert err < tol, f"{name}: {err} >= {tol}"


def softmax(s):
    """Row-wise softmax; subtracting the row maximum keeps exp from overflowing."""
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="attention_heads.png", help="the picture to write")
    out_path = parser.parse_args().out
    rng = np.random.default_rng(0)

    # 1. Tokens and their embeddings: one vector of d_model numbers per token.
    tokens = "the cat sat on the mat".split()
    L, d_model, heads = len(tokens), 32, 4
    d_head = d_model // heads
    x = rng.standard_normal((L, d_model)).astype(np.float32)  # [L, d_model]
    print(f"1. {L} tokens, each a vector of {d_model}: x {x.shape}")

    # 2. Projections: every token asks (query), offers (key) and carries (value).
    w_q, w_k, w_v = (rng.standard_normal((d_model, d_model)).astype(np.float32) / d_model**0.5
                     for _ in range(3))
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # [L, d_model] each
    print(f"2. projections q, k, v: {q.shape}")

    # 3. Scaled scores: how well query i matches key j; dividing by √d keeps the softmax soft.
    scores = q @ k.T / np.sqrt(d_model)  # [L, L]
    print(f"3. scores q·kᵀ/√d: {scores.shape}, from {scores.min():.2f} to {scores.max():.2f}")

    # 4. The causal mask: token i may only look at tokens 0..i (nothing from the future).
    causal = np.tril(np.ones((L, L), dtype=bool))  # True = may attend
    masked = np.where(causal, scores, -np.inf)
    print("4. causal mask: future keys get −inf, so their weight will be exactly 0")

    # 5. Softmax: each row becomes weights that are positive and sum to 1.
    weights = softmax(masked)  # [L, L]
    print(f"5. softmax: rows sum to {weights.sum(axis=-1).round(6)}")
    check("weights == attn.attention_weights", weights,
          attn.attention_weights(q, k, is_causal=True))

    # 6. Weighted sum: each output is a mix of the values, in the proportions of its weights.
    out = weights @ v  # [L, d_model]
    print(f"6. weights · v: {out.shape}")
    check("one head == attn.scaled_dot_product_attention", out,
          attn.scaled_dot_product_attention(q, k, v, is_causal=True))
    check("the mask as an argument (bool, True = attend)", out,
          attn.scaled_dot_product_attention(q, k, v, attn_mask=causal))

    # 7. Heads: split d_model into `heads` slices of d_head, attend in each, merge them back.
    def split(t):  # [L, d_model] → [heads, L, d_head]
        return t.reshape(L, heads, d_head).transpose(1, 0, 2)

    qh, kh, vh = split(q), split(k), split(v)
    per_head = softmax(np.where(causal, qh @ kh.transpose(0, 2, 1) / np.sqrt(d_head), -np.inf))
    merged = (per_head @ vh).transpose(1, 0, 2).reshape(L, d_model)  # [L, d_model]
    print(f"7. {heads} heads of {d_head}: weights {per_head.shape}, merged back to "
          f"{merged.shape}")
    check("heads == attn on [heads, L, d_head] views", merged,
          attn.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
          .transpose(1, 0, 2).reshape(L, d_model))
    # FlashAttention's layout [batch, L, heads, d_head] is the projection itself, reshaped:
    # no transpose, no copy. (Its causal diagonal sits bottom-right; with Lq == Lk it is
    # the same mask.)
    flash = attn.flash_attn_func(*(t.reshape(1, L, heads, d_head) for t in (q, k, v)),
                                 causal=True)
    check("heads == attn.flash_attn_func", merged, flash.reshape(L, d_model))

    # 8. The picture: one panel per head, query tokens down, key tokens across.
    if out_path == "attention_heads.png":
        out_path = str(pathlib.Path(tempfile.gettempdir()) / out_path)
    attn.viz.heatmap(per_head, tokens, tokens, out_path, title="causal self-attention",
                     panel_titles=[f"head {h}" for h in range(heads)])
    print(f"8. the weights of every head: {out_path}")


if __name__ == "__main__":
    main()
