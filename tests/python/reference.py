"""Attention written plainly in torch ops, in float64 (the reference) or float32 (the plain
implementation whose error sets the tolerance), independent of attn."""

import math

import torch


def scores_mask(lq, lk, causal=False, top_left=False, window=(-1, -1)):
    """[Lq, Lk] bool: True where query i may see key j (causal / sliding window)."""
    offset = 0 if top_left else lk - lq
    pos = torch.arange(lq)[:, None] + offset
    j = torch.arange(lk)[None, :]
    left, right = window
    if causal:
        right = 0 if right < 0 else min(right, 0)
    ok = torch.ones(lq, lk, dtype=torch.bool)
    if left >= 0:
        ok &= j >= pos - left
    if right >= 0:
        ok &= j <= pos + right
    return ok


def attention(q, k, v, *, bool_mask=None, additive_mask=None, causal=False, top_left=False,
              window=(-1, -1), scale=None, softcap=0.0, alibi=None, keep=None, dropout_p=0.0,
              dtype=torch.float64):
    """q [B, Hq, Lq, D], k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv] → (out, weights), computed in
    `dtype`. Fully masked rows give 0. keep [B, Hq, Lq, Lk]: the dropout keep bits."""
    q, k, v = (x.to(dtype) for x in (q, k, v))
    group = q.shape[-3] // k.shape[-3]
    k, v = k.repeat_interleave(group, -3), v.repeat_interleave(group, -3)
    lq, lk = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-1, -2)) * scale
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    if alibi is not None:
        slopes = alibi.to(dtype)
        slopes = slopes[..., None, None] if slopes.dim() == 2 else slopes[:, None, None]
        pos = torch.arange(lq)[:, None] + (lk - lq)
        s = s - slopes * (pos - torch.arange(lk)[None, :]).abs().to(dtype)
    if additive_mask is not None:
        s = s + additive_mask.to(dtype)
    if bool_mask is not None:
        s = s.masked_fill(~bool_mask, -math.inf)
    if causal or window != (-1, -1):
        s = s.masked_fill(~scores_mask(lq, lk, causal, top_left, window), -math.inf)
    w = torch.softmax(s, dim=-1).nan_to_num(0.0)
    wd = w if keep is None else w * keep.to(dtype) / (1.0 - dropout_p)
    return wd @ v, w


def blhd(x):
    """[B, L, H, D] ↔ [B, H, L, D]."""
    return x.transpose(1, 2)


def max_err(a, b):
    a = torch.as_tensor(a).to(torch.float64)
    b = torch.as_tensor(b).to(torch.float64)
    return (a - b).abs().max().item()


def assert_rule(got, ref64, plain32, factor, what="output"):
    """FlashAttention's rule: attn's error against the float64 reference is at most `factor`
    times the error of the plain float32 computation (plus a floor for exact cases)."""
    err, base = max_err(got, ref64), max_err(plain32, ref64)
    assert err <= factor * base + 2e-6, f"{what}: error {err:.3g} > {factor} x {base:.3g}"
