"""scaled_dot_product_attention (PyTorch's signature) and flash_attn_func (FlashAttention's),
on NumPy arrays or PyTorch CPU tensors, and the attention weights for pictures."""

import numpy as np

from . import _arrays, _attn, _reference
from ._spec import Spec, check_dropout, check_scale, draw_seed, mask_fields


def _element_type(q, k, v):
    """'bf16' or 'f16', the kernels' name of the 16-bit dtype that q, k and v share, when q is
    16-bit (TypeError for a mix); None otherwise."""
    if not _is_16bit(q):
        return None
    names = [_arrays.dtype_name(x) if hasattr(x, "dtype") else type(x).__name__
             for x in (q, k, v)]
    if len(set(names)) != 1:
        raise TypeError("query, key and value must share one dtype, got " + ", ".join(names))
    return "bf16" if names[0] == "bfloat16" else "f16"


def _is_16bit(x):
    """True for a bfloat16 or float16 tensor and a float16 NumPy array (cheap: every call)."""
    if type(x) is np.ndarray:
        return x.dtype == np.float16
    torch = _arrays.torch_module()
    if torch is None or not isinstance(x, torch.Tensor):
        return False
    return x.dtype is torch.bfloat16 or x.dtype is torch.float16


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query · keyᵀ · scale + mask) · value, with PyTorch 2.x's semantics.

    query [..., Hq, L, E], key [..., H, S, E], value [..., H, S, Ev] → [..., Hq, L, Ev].
    attn_mask broadcastable to [..., Hq, L, S]: bool (True = attend) or float (added).
    is_causal masks keys after the query, the diagonal from the top-left corner (not with
    attn_mask). H < Hq (grouped-query) only with enable_gqa. A fully masked row gives 0.
    float32 runs the flash kernel, float64 the float64 reference, bfloat16 and float16 the
    kernel on the 16-bit inputs in place (float32 arithmetic, the output rounded to the inputs'
    type; an additive mask stays float32); tensors that need gradients go through attn's flash
    backward.
    """
    if attn_mask is None and not dropout_p and scale is None:
        out = _fast_sdpa(query, key, value, is_causal)
        if out is not None:
            return out
    etype = _element_type(query, key, value)
    kind = _arrays.kind_of(query, key, value)
    dtype = np.float32 if etype else _arrays.float_dtype(query, key, value)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal, not both")
    lead = _leading_shape(query, key, value)
    q, k, v = (_as_bhld(x, lead, name) for x, name in
               zip((query, key, value), ("query", "key", "value")))
    _check_heads(q.shape[1], k.shape[1], enable_gqa)
    bool_mask, additive_mask = mask_fields(_mask_bhld(attn_mask, lead, query), dtype)
    spec = Spec(bool_mask=bool_mask, additive_mask=additive_mask, scale=check_scale(scale),
                causal=bool(is_causal), top_left=True, dropout_p=check_dropout(dropout_p))
    if spec.dropout_p > 0:
        spec.seed = draw_seed(kind)
    out = _run(kind, q, k, v, spec, etype=etype)[0]
    return _unflatten(out, query.ndim, lead)


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=True,
                    return_attn_probs=False):
    """FlashAttention's flash_attn_func: q [B, Lq, H, D], k [B, Lk, Hk, D], v [B, Lk, Hk, Dv]
    (H a multiple of Hk) → out [B, Lq, H, Dv].

    causal and window_size=(left, right) are aligned bottom-right (query i sits at key
    i + Lk − Lq); softcap > 0 caps the scores with softcap · tanh(s / softcap); alibi_slopes
    [H] or [B, H] add −slope · |i + Lk − Lq − j|. The backward is always deterministic.
    With return_attn_probs, returns (out, softmax_lse [B, H, Lq], probs [B, H, Lq, Lk]): the
    softmax weights recomputed from the log-sum-exp, a dropped weight negated (as
    FlashAttention's S_dmask). bfloat16 and float16 inputs are read in place, computed in
    float32 and the output rounded to their type (lse, probs and ALiBi slopes float32).
    """
    del deterministic  # attn's backward is deterministic for any thread count
    left, right = (int(w) for w in window_size)
    spec = Spec(blhd=True, scale=check_scale(softmax_scale, "softmax_scale"),
                softcap=float(softcap), causal=bool(causal), window_left=left,
                window_right=right)
    if alibi_slopes is None and not dropout_p and not return_attn_probs:
        fast = _fast_inputs(q, k, v)
        if fast is not None:
            return _fast_forward(fast, spec.as_tuple())
    etype = _element_type(q, k, v)
    kind = _arrays.kind_of(q, k, v)
    dtype = np.float32 if etype else _arrays.float_dtype(q, k, v)
    for x, name in zip((q, k, v), ("q", "k", "v")):
        if x.ndim != 4:
            raise ValueError(f"{name}: expected [batch, seqlen, heads, headdim], got shape "
                             f"{tuple(x.shape)}")
    spec.alibi = _alibi(alibi_slopes, dtype)
    spec.dropout_p = check_dropout(dropout_p)
    if spec.dropout_p > 0:
        spec.seed = draw_seed(kind)
    out, lse = _run(kind, q, k, v, spec, want_lse=return_attn_probs, etype=etype)
    if not return_attn_probs:
        return out
    probs = _probs(kind, q, k, v, out, lse, spec, etype)
    return out, lse, probs


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                           dropout_p=0.0, softmax_scale=None, causal=False,
                           window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False):
    """FlashAttention's flash_attn_varlen_func: n sequences packed end to end without padding,
    q [total_q, H, D], k [total_k, Hk, D], v [total_k, Hk, Dv] → out [total_q, H, Dv].

    Sequence i has the query rows cu_seqlens_q[i] .. cu_seqlens_q[i + 1] and the keys
    cu_seqlens_k[i] .. cu_seqlens_k[i + 1] (int32 [n + 1], from 0 to the totals) and attends
    only within itself; causal, window_size and ALiBi (slopes [H]) are aligned bottom-right
    within each sequence, as in flash_attn_func. max_seqlen_q / max_seqlen_k must be at least
    the longest sequences (0: not checked). float32, or bfloat16 / float16 read in place and
    computed in float32 (not the float64 reference). The dropout mask is that of the packed
    [1, H, total_q, total_k] problem. With return_attn_probs, returns (out, softmax_lse
    [H, total_q], probs [n, H, max_seqlen_q, max_seqlen_k]): each sequence's softmax weights,
    zero-padded, a dropped weight negated.
    """
    del deterministic  # attn's backward is deterministic for any thread count
    etype = _element_type(q, k, v)
    kind = _arrays.kind_of(q, k, v)
    if not etype and _arrays.float_dtype(q, k, v) != np.float32:
        raise TypeError("flash_attn_varlen_func: expected float32 inputs (the float64 reference "
                        "does not take packed sequences)")
    for x, name in zip((q, k, v), ("q", "k", "v")):
        if x.ndim != 3:
            raise ValueError(f"{name}: expected [total, heads, headdim], got shape "
                             f"{tuple(x.shape)}")
    left, right = (int(w) for w in window_size)
    spec = Spec(blhd=True, scale=check_scale(softmax_scale, "softmax_scale"),
                softcap=float(softcap), causal=bool(causal), window_left=left,
                window_right=right, cu_seqlens_q=_offsets(cu_seqlens_q, "cu_seqlens_q"),
                cu_seqlens_k=_offsets(cu_seqlens_k, "cu_seqlens_k"),
                max_seqlen_q=int(max_seqlen_q), max_seqlen_k=int(max_seqlen_k))
    spec.alibi = _alibi(alibi_slopes, np.float32)
    spec.dropout_p = check_dropout(dropout_p)
    if spec.dropout_p > 0:
        spec.seed = draw_seed(kind)
    q4, k4, v4 = (x[None] for x in (q, k, v))  # [1, total, H, D] views
    out, lse = _run(kind, q4, k4, v4, spec, want_lse=return_attn_probs, etype=etype)
    if not return_attn_probs:
        return out[0]
    return out[0], lse[0], _varlen_probs(kind, q4, k4, v4, out, lse, spec, etype)


def attention_weights(query, key, value=None, attn_mask=None, is_causal=False, scale=None,
                      enable_gqa=False, rows=None, average_heads=False):
    """The softmax weights of scaled_dot_product_attention (same arguments, no dropout):
    [..., Hq, L, S], or [..., 1, L, S] averaged over the heads. rows=(begin, end) recomputes
    only those query rows. float32 runs the kernel from the saved log-sum-exp: memory beyond
    the result is O(S); bfloat16 and float16 likewise, read in place (the weights float32).
    Returns the inputs' kind, without gradient."""
    if value is None:
        value = key
    etype = _element_type(query, key, value)
    kind = _arrays.kind_of(query, key, value)
    dtype = np.float32 if etype else _arrays.float_dtype(query, key, value)
    if is_causal and attn_mask is not None:
        raise ValueError("attention_weights: pass attn_mask or is_causal, not both")
    lead = _leading_shape(query, key, value)
    q, k, v = (_as_bhld(x, lead, n) for x, n in
               zip((query, key, value), ("query", "key", "value")))
    _check_heads(q.shape[1], k.shape[1], enable_gqa)
    as_input = _input16 if etype else _arrays.as_numpy
    q, k, v = (as_input(x, n) for x, n in zip((q, k, v), ("query", "key", "value")))
    bool_mask, additive_mask = mask_fields(_mask_bhld(attn_mask, lead, query), dtype)
    spec = Spec(bool_mask=bool_mask, additive_mask=additive_mask, scale=check_scale(scale),
                causal=bool(is_causal), top_left=True)
    begin, end = (0, -1) if rows is None else (int(rows[0]), int(rows[1]))
    if etype:
        w = _attn.weights(q, k, v, None, None, begin, end, bool(average_heads), spec.as_tuple(),
                          etype, etype)
    elif dtype == np.float32:
        w = _attn.weights(q, k, v, None, None, begin, end, bool(average_heads), spec.as_tuple())
    else:
        _reference.validate(q, k, v, spec)
        w = _reference.weights(q, k, v, spec)
        w = w[:, :, begin:(w.shape[2] if end < 0 else end)]
        if average_heads:
            w = w.mean(axis=1, keepdims=True)
    return _arrays.wrap_like(kind, _unflatten(w, query.ndim, lead))


# ---------------------------------------------------------------- shapes

_PLAIN = Spec(top_left=True).as_tuple()
_CAUSAL = Spec(causal=True, top_left=True).as_tuple()


def _fast_sdpa(query, key, value, is_causal):
    """The common call in few steps: 4-D float32 arrays, or CPU tensors that need no gradient,
    of equal head counts, no mask, dropout or scale. None when the general path must run."""
    fast = _fast_inputs(query, key, value)
    if fast is None or key.shape[1] != query.shape[1]:
        return None
    return _fast_forward(fast, _CAUSAL if is_causal else _PLAIN)


def _fast_forward(fast, spec_tuple):
    """The output of the kernel on _fast_inputs' result, as the caller's kind."""
    kind, inputs = fast
    out = _attn.forward(*inputs, None, False, spec_tuple)[0]
    return out if kind == "numpy" else _arrays.torch_module().from_numpy(out)


def _fast_inputs(q, k, v):
    """(kind, inputs as the kernel reads them) for 4-D float32 arrays, or CPU tensors that need
    no gradient; else None."""
    if type(q) is np.ndarray:
        if (type(k) is np.ndarray and type(v) is np.ndarray and q.dtype.type is np.float32
                and q.ndim == 4 and k.ndim == 4):
            return "numpy", (q, k, v)
        return None
    torch = _arrays.torch_module()
    if (torch is None or type(q) is not torch.Tensor or type(k) is not torch.Tensor
            or type(v) is not torch.Tensor or q.requires_grad or k.requires_grad
            or v.requires_grad or q.dim() != 4 or k.dim() != 4):
        return None
    for x, name in ((q, "query"), (k, "key"), (v, "value")):
        if x.dtype is not torch.float32:
            return None
        _arrays.check_tensor(x, name)
    # The tensors by (data_ptr, shape, strides): cheaper than three NumPy views. They stay
    # alive in the caller's frame while the kernel runs.
    return "torch", (_describe(q), _describe(k), _describe(v))


def _describe(t):
    return (t.data_ptr(), t.shape, t.stride())


def _input16(x, name):
    """A 4-D bfloat16 or float16 input as the kernel reads it in place: a float16 NumPy array
    as it is, a tensor by its description (the caller keeps it alive during the call)."""
    if type(x) is np.ndarray:
        return x
    _arrays.check_tensor(x, name)
    return _describe(x)


def _inputs16(*xs, names=("query", "key", "value", "out")):
    """_input16 of each of xs, named in order as q, k, v and out are."""
    return tuple(_input16(x, n) for x, n in zip(xs, names))


def _wrap16(kind, out, dtype):
    """The kernel's 16-bit output (float16, or int16 bfloat16 bits) as the caller's kind."""
    if kind == "numpy":
        return out
    return _arrays.torch_module().from_numpy(out).view(dtype)



def _leading_shape(query, key, value):
    """The dimensions before [H, L, D] (at most one allowed to stay: the batch)."""
    for x, name in zip((query, key, value), ("query", "key", "value")):
        if x.ndim < 2:
            raise ValueError(f"{name}: expected at least 2 dimensions [..., L, E], got "
                             f"{x.ndim}")
    if not query.ndim == key.ndim == value.ndim:
        raise ValueError(f"query, key and value must have the same number of dimensions, got "
                         f"{query.ndim}, {key.ndim} and {value.ndim}")
    return tuple(query.shape[:-3])


def _as_bhld(x, lead, name):
    """x [..., H, L, D] as a 4-D view [B, H, L, D] (no copy)."""
    if x.ndim == 2:
        return x[None, None]
    if x.ndim == 3:
        return x[None]
    if x.ndim == 4:
        return x
    if tuple(x.shape[:-3]) != lead:
        raise ValueError(f"{name}: leading dimensions {tuple(x.shape[:-3])} differ from the "
                         f"query's {lead}")
    return _arrays.reshape_view(x, (-1,) + tuple(x.shape[-3:]), name)


def _mask_bhld(mask, lead, query):
    """A mask broadcastable to [..., Hq, L, S] as one broadcastable to [B, Hq, L, S]."""
    if mask is None or len(lead) <= 1 or mask.ndim <= 3:
        return mask
    full = lead + tuple(mask.shape[-3:])
    if _arrays.is_tensor(mask):
        m = mask.expand(full)
    else:
        m = np.broadcast_to(mask, full)
    return _arrays.reshape_view(m, (-1,) + full[-3:], "attn_mask")


def _unflatten(out, ndim, lead):
    """The 4-D result back to the query's dimensions."""
    if ndim == 2:
        return out[0, 0]
    if ndim == 3:
        return out[0]
    if ndim == 4:
        return out
    return out.reshape(lead + tuple(out.shape[1:]))


def _check_heads(q_heads, kv_heads, enable_gqa):
    if q_heads == kv_heads:
        return
    if not enable_gqa:
        raise ValueError(f"scaled_dot_product_attention: key/value have {kv_heads} heads, the "
                         f"query {q_heads}; grouped-query attention needs enable_gqa=True")
    if q_heads % kv_heads != 0:
        raise ValueError(f"attention: query heads Hq={q_heads} must be a multiple of the "
                         f"key/value heads Hkv={kv_heads}")


def _alibi(slopes, dtype):
    if slopes is None:
        return None
    if _arrays.is_tensor(slopes):
        _arrays.check_tensor(slopes, "alibi_slopes")
    s = _arrays.as_numpy(slopes, "alibi_slopes")
    if s.dtype != dtype and not (dtype == np.float64 and s.dtype == np.float32):
        raise TypeError(f"alibi_slopes: expected float32, got {s.dtype}")
    return s


# ---------------------------------------------------------------- running


def _needs_grad(kind, *xs):
    if kind != "torch":
        return False
    torch = _arrays.torch_module()
    return torch.is_grad_enabled() and any(x.requires_grad for x in xs)


def _run(kind, q, k, v, spec, want_lse=False, etype=None):
    """(out, lse) of the caller's kind, lse None unless wanted or computed anyway; through
    autograd when a tensor needs gradients. etype 'bf16' or 'f16': q, k, v of that type, read
    in place, and out of it too."""
    if _needs_grad(kind, q, k, v):
        from .torch import attention_function
        return attention_function(q, k, v, spec)
    if etype:
        out, lse = _attn.forward(*_inputs16(q, k, v), None, want_lse, spec.as_tuple(), etype,
                                 etype)
        return _wrap16(kind, out, q.dtype), _arrays.wrap_like(kind, lse)
    qn, kn, vn = (_arrays.as_numpy(x, n) for x, n in zip((q, k, v), ("query", "key", "value")))
    out, lse = forward_numpy(qn, kn, vn, spec, want_lse)
    return _arrays.wrap_like(kind, out), _arrays.wrap_like(kind, lse)


def forward_numpy(q, k, v, spec, want_lse=True):
    """(out, lse) as NumPy arrays: the kernel for float32 (lse None unless wanted), the
    reference for float64."""
    if q.dtype == np.float32:
        return _attn.forward(q, k, v, None, want_lse, spec.as_tuple())
    return _reference.forward(q, k, v, spec)


def backward_numpy(q, k, v, out, lse, dout, spec):
    """(dq, dk, dv) as NumPy arrays in the layouts of q, k, v."""
    if q.dtype == np.float32:
        return _attn.backward(q, k, v, out, lse, dout, None, None, None, spec.as_tuple())
    return _reference.backward(q, k, v, dout, spec)


def _weights_and_keep(q, k, v, out, lse, spec, per_batch_alibi, etype=None):
    """The softmax weights [B, H, Lq, Lk] as a NumPy array and the dropout keep mask (None
    without dropout). etype 'bf16' or 'f16': q, k, v and out of that type, read in place by the
    kernel (the weights float32); else NumPy inputs, the kernel for float32 and the float64
    reference otherwise."""
    if etype:
        w = _attn.weights(*_inputs16(q, k, v, out), _arrays.as_numpy(lse), 0, -1, False,
                          spec.as_tuple(), etype, etype)
    elif q.dtype == np.float32:
        w = _attn.weights(q, k, v, out, lse, 0, -1, False, spec.as_tuple())
    else:
        w = _reference.weights(q, k, v, spec)
    return w, _keep(w.shape, spec, per_batch_alibi)


def _keep(shape, spec, per_batch_alibi):
    """The dropout keep mask [B, H, Lq, Lk] of the spec's dropout; None without dropout."""
    if spec.dropout_p <= 0:
        return None
    b, h, lq, lk = shape
    return _attn.dropout_keep(b, h, lq, lk, spec.dropout_p, spec.seed, spec.offset,
                              per_batch_alibi)


def _offsets(cu, name):
    """Packed sequences' offsets as a contiguous NumPy int32 array [n + 1]."""
    c = _arrays.as_numpy(cu, name)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"{name}: expected a 1-D integer array of n + 1 offsets, got "
                         f"{c.dtype} of shape {c.shape}")
    if c.size and (c.min() < 0 or c.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name}: offsets must fit int32")
    return np.ascontiguousarray(c, dtype=np.int32)


def _varlen_probs(kind, q4, k4, v4, out4, lse, spec, etype=None):
    """flash_attn_varlen_func's probs: the packed weights [1, H, total_q, total_k] cut into
    each sequence's block, [n, H, max_seqlen_q, max_seqlen_k], dropped weights negated."""
    w = _probs("numpy", q4, k4, v4, out4, lse, spec, etype)[0]
    cq, ck = spec.cu_seqlens_q, spec.cu_seqlens_k
    mq = max(spec.max_seqlen_q, int(np.diff(cq).max()))
    mk = max(spec.max_seqlen_k, int(np.diff(ck).max()))
    probs = np.zeros((len(cq) - 1, w.shape[0], mq, mk), dtype=w.dtype)
    for i in range(len(cq) - 1):
        block = w[:, cq[i]:cq[i + 1], ck[i]:ck[i + 1]]
        probs[i, :, :block.shape[1], :block.shape[2]] = block
    return _arrays.wrap_like(kind, probs)


def _probs(kind, q, k, v, out, lse, spec, etype=None):
    """FlashAttention's S_dmask: weights [B, H, Lq, Lk], dropped ones negated. etype: q, k, v
    and out 16-bit, read in place."""
    per_batch = spec.alibi is not None and spec.alibi.ndim == 2
    if not etype:
        q, k, v, out, lse = (_arrays.as_numpy(x) for x in (q, k, v, out, lse))
    w, keep = _weights_and_keep(q, k, v, out, lse, spec, per_batch, etype)
    if keep is not None:
        w = np.where(keep, w, -w)
    return _arrays.wrap_like(kind, w)
