"""The float64 path: attention and its gradients in NumPy float64, step by step.

It follows the formula of attn's reference (include/attn/ref/attention_reference.h) and reads
the same Spec as the kernels; float64 inputs run here, so torch.autograd.gradcheck can check the
gradients. It materialises the Lq×Lk scores: a definition, not a fast path.
"""

import numpy as np

from . import _attn

# One call's intermediates: p (softmax weights), kept (dropped weights scaled), t (tanh of the
# softcap), and the shapes.


def _bhld(x, blhd):
    return np.asarray(x, dtype=np.float64).transpose(0, 2, 1, 3) if blhd else np.asarray(
        x, dtype=np.float64)


def _from_bhld(x, blhd):
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3) if blhd else x)


def _expand_heads(x, q_heads):
    """[B, Hkv, L, D] → [B, Hq, L, D]: query head h reads KV head h // (Hq / Hkv)."""
    return np.repeat(x, q_heads // x.shape[1], axis=1)


def _sum_groups(x, kv_heads):
    """[B, Hq, L, D] → [B, Hkv, L, D]: the inverse of _expand_heads for gradients."""
    b, hq, length, d = x.shape
    return x.reshape(b, kv_heads, hq // kv_heads, length, d).sum(axis=2)


def _visible(spec, lq, lk):
    """[Lq, Lk] bool: keys the causal / sliding window lets each query see, or None."""
    offset = 0 if spec.top_left else lk - lq
    pos = np.arange(lq)[:, None] + offset
    j = np.arange(lk)[None, :]
    right = spec.window_right
    if spec.causal:
        right = 0 if right < 0 else min(right, 0)
    visible = np.ones((lq, lk), dtype=bool)
    if spec.window_left >= 0:
        visible &= j >= pos - spec.window_left
    if right >= 0:
        visible &= j <= pos + right
    return visible


def _scores(q, k, spec):
    """Scores [B, Hq, Lq, Lk] after scale, softcap, ALiBi and masks; and tanh of the softcap."""
    b, hq, lq, d = q.shape
    lk = k.shape[2]
    scale = spec.scale if spec.scale is not None else 1.0 / np.sqrt(d)
    s = scale * np.einsum("bhid,bhjd->bhij", q, _expand_heads(k, hq))
    t = None
    if spec.softcap > 0:
        t = np.tanh(s / spec.softcap)
        s = spec.softcap * t
    if spec.alibi is not None:
        slopes = np.asarray(spec.alibi, dtype=np.float64)
        slopes = np.broadcast_to(slopes, (b, hq))[:, :, None, None]
        pos = np.arange(lq)[:, None] + (lk - lq)  # ALiBi positions: bottom-right (FlashAttention)
        s = s - slopes * np.abs(pos - np.arange(lk)[None, :])
    if spec.additive_mask is not None:
        s = s + np.asarray(spec.additive_mask, dtype=np.float64)
    if spec.bool_mask is not None:
        s = np.where(spec.bool_mask, s, -np.inf)
    if spec.causal or spec.window_left >= 0 or spec.window_right >= 0:
        s = np.where(_visible(spec, lq, lk), s, -np.inf)
    return np.broadcast_to(s, (b, hq, lq, lk)), t, scale


def _softmax(s):
    """Weights and log-sum-exp; a row with every key masked gives 0 and −inf."""
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, e / total, 0.0)
        lse = np.where(total[..., 0] > 0, np.log(total[..., 0]) + m[..., 0], -np.inf)
    return p, lse


def _dropout(p, spec):
    """The weights after dropout (kept ones scaled by 1/(1 − p)), and the keep factor."""
    if spec.dropout_p <= 0:
        return p, None
    b, h, lq, lk = p.shape
    keep = _attn.dropout_keep(b, h, lq, lk, spec.dropout_p, spec.seed, spec.offset,
                              spec.alibi is not None and np.ndim(spec.alibi) == 2)
    factor = keep / (1.0 - spec.dropout_p)
    return p * factor, factor


def validate(q, k, v, spec):
    """The kernels' checks, with their messages, on the shapes and options."""
    get = (lambda x, i: x.shape[i])
    hq, lq = (get(q, 2), get(q, 1)) if spec.blhd else (get(q, 1), get(q, 2))
    hk, lk = (get(k, 2), get(k, 1)) if spec.blhd else (get(k, 1), get(k, 2))
    _attn.validate_sizes((q.shape[0], hq, hk, lq, lk, q.shape[3], v.shape[3]), spec.scale,
                         spec.softcap, spec.dropout_p, spec.causal, spec.window_left,
                         spec.window_right)


def forward(q, k, v, spec):
    """(out, lse) in float64: out in the layout of q, lse [B, Hq, Lq]."""
    validate(q, k, v, spec)
    qb, kb, vb = (_bhld(x, spec.blhd) for x in (q, k, v))
    s, _, _ = _scores(qb, kb, spec)
    p, lse = _softmax(s)
    pd, _ = _dropout(p, spec)
    out = np.einsum("bhij,bhjd->bhid", pd, _expand_heads(vb, qb.shape[1]))
    return _from_bhld(out, spec.blhd), lse


def weights(q, k, v, spec):
    """The softmax weights [B, Hq, Lq, Lk] (undropped)."""
    qb, kb = _bhld(q, spec.blhd), _bhld(k, spec.blhd)
    s, _, _ = _scores(qb, kb, spec)
    return _softmax(s)[0]


def backward(q, k, v, dout, spec):
    """(dq, dk, dv) in float64, in the layouts of q, k and v."""
    qb, kb, vb, dob = (_bhld(x, spec.blhd) for x in (q, k, v, dout))
    hq, hkv = qb.shape[1], kb.shape[1]
    s, t, scale = _scores(qb, kb, spec)
    p, _ = _softmax(s)
    pd, factor = _dropout(p, spec)
    ve, ke = _expand_heads(vb, hq), _expand_heads(kb, hq)
    dv = _sum_groups(np.einsum("bhij,bhid->bhjd", pd, dob), hkv)  # out = pd · v
    dpd = np.einsum("bhid,bhjd->bhij", dob, ve)
    dp = dpd * factor if factor is not None else dpd  # pd = p ∘ factor
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))  # p = softmax(s)
    if t is not None:
        ds = ds * (1.0 - t * t)  # s = softcap · tanh(s0 / softcap)
    dq = scale * np.einsum("bhij,bhjd->bhid", ds, ke)  # s0 = scale · q · kᵀ
    dk = _sum_groups(scale * np.einsum("bhij,bhid->bhjd", ds, qb), hkv)
    return tuple(_from_bhld(x, spec.blhd) for x in (dq, dk, dv))
