"""attn for PyTorch: the autograd Function on attn's flash backward, and MultiheadAttention,
a drop-in for torch.nn.MultiheadAttention that runs on attn's kernels."""

import numpy as np
import torch
import torch.nn.functional as F

from . import _arrays, _attn
from . import functional as _functional
from .functional import backward_numpy, forward_numpy, scaled_dot_product_attention
from ._spec import Spec, check_dropout, draw_seed

__all__ = ["AttentionFunction", "attention_function", "MultiheadAttention",
           "scaled_dot_product_attention"]


_ELEMENT_TYPES = {torch.bfloat16: "bf16", torch.float16: "f16"}


class AttentionFunction(torch.autograd.Function):
    """(out, lse) = attention(q, k, v) with the options of a Spec; gradients for q, k, v from
    attn's flash backward (float32) or the float64 reference (float64). Deterministic.

    bfloat16 and float16 q, k, v are read in place by the kernels (float32 arithmetic): out is
    rounded to their type, the float32 out kept for the backward, which reads q, k, v and dout
    in that type too; the gradients come back in the leaves' type."""

    @staticmethod
    def forward(ctx, q, k, v, spec):
        etype = _ELEMENT_TYPES.get(q.dtype)
        ctx.spec, ctx.etype = spec, etype
        if etype is None:
            out, lse = forward_numpy(*(x.detach().numpy() for x in (q, k, v)), spec)
            out_t, lse_t = torch.from_numpy(out), torch.from_numpy(lse)
            ctx.save_for_backward(q, k, v, out_t, lse_t)
            ctx.mark_non_differentiable(lse_t)
            return out_t, lse_t
        out, lse = _attn.forward(*_functional._inputs16(q, k, v), None, True, spec.as_tuple(),
                                 etype, "f32")
        lse_t = torch.from_numpy(lse)
        ctx.out32 = out  # the backward's Δ = Σ dout·out takes the float32 output
        ctx.save_for_backward(q, k, v, lse_t)
        ctx.mark_non_differentiable(lse_t)
        return torch.from_numpy(out).to(q.dtype), lse_t

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout, dlse):
        del dlse  # the log-sum-exp is not differentiable
        if dout.stride(-1) != 1 or 0 in dout.stride():
            dout = dout.contiguous()  # e.g. the expanded ones of out.sum()
        if ctx.etype is not None:
            return _backward16(ctx, dout)
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = backward_numpy(*(x.detach().numpy() for x in (q, k, v, out, lse, dout)),
                                    ctx.spec)
        return torch.from_numpy(dq), torch.from_numpy(dk), torch.from_numpy(dv), None


def _backward16(ctx, dout):
    """AttentionFunction.backward for bfloat16 / float16 inputs: dout in their type, read in
    place; the float32 gradients rounded to it."""
    q, k, v, lse = ctx.saved_tensors
    dtype = q.dtype
    if dout.dtype is not dtype:
        dout = dout.to(dtype)  # .to keeps the last dimension contiguous
    dq, dk, dv = _attn.backward(*_functional._inputs16(q, k, v), ctx.out32, lse.numpy(),
                                _functional._input16(dout, "grad_output"), None, None, None,
                                ctx.spec.as_tuple(), ctx.etype, "f32")
    return (torch.from_numpy(dq).to(dtype), torch.from_numpy(dk).to(dtype),
            torch.from_numpy(dv).to(dtype), None)


def attention_function(q, k, v, spec):
    """(out, lse) through AttentionFunction."""
    return AttentionFunction.apply(q, k, v, spec)


class MultiheadAttention(torch.nn.MultiheadAttention):
    """torch.nn.MultiheadAttention on attn's kernels: the same constructor, parameters and
    state_dict (either module loads the other's), and forward's arguments, plus is_causal.

    The attention runs in attn's flash kernels, so the L×S weights are never materialised,
    unless need_weights asks for them (then recomputed from the log-sum-exp, without
    gradient). Pass need_weights=False when they are not used, as with PyTorch's module.
    is_causal=True masks the keys after each query (top-left diagonal); unlike PyTorch 2.x,
    which takes it as a hint beside a causal attn_mask, it needs no attn_mask (one given is
    applied too). A query whose keys are all masked gives 0 (PyTorch's module gives NaN).
    A bfloat16 or float16 module (module.to(torch.bfloat16)) runs the kernels on its 16-bit
    projections in place; the weights come back in its type.
    """

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        batched = query.dim() == 3
        if not batched:  # [L, E]
            query, key, value = (x.unsqueeze(0) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:  # [L, N, E]
            query, key, value = _transpose_alike(query, key, value)
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights,
                                    attn_mask, average_attn_weights, is_causal)
        if not batched:
            return out.squeeze(0), (weights.squeeze(0) if weights is not None else None)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    # query [N, L, E], key and value [N, S, kdim / vdim] → ([N, L, E], weights or None)
    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                average_attn_weights, is_causal):
        batch, length, _ = query.shape
        heads, head_dim = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)  # [N, L, E], [N, S, E], [N, S, E]
        # Additive masks are float32 for bfloat16 and float16 projections, as for the functions.
        keep, add = _masks(attn_mask, key_padding_mask, batch, heads,
                           torch.float32 if q.dtype in _ELEMENT_TYPES else q.dtype)
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.expand(batch, 1, -1)], dim=1)
            v = torch.cat([v, self.bias_v.expand(batch, 1, -1)], dim=1)
            keep, add = _pad_masks(keep, add)
        # [N, L, H, D] views of the projections: the kernels read them in place.
        q4, k4, v4 = (x.unflatten(-1, (heads, head_dim)) for x in (q, k, v))
        if self.add_zero_attn:
            zeros = k4.new_zeros(batch, 1, heads, head_dim)
            k4, v4 = torch.cat([k4, zeros], dim=1), torch.cat([v4, zeros], dim=1)
            keep, add = _pad_masks(keep, add)
        spec = Spec(blhd=True, bool_mask=keep, additive_mask=add, causal=bool(is_causal),
                    top_left=True,
                    dropout_p=check_dropout(self.dropout if self.training else 0.0))
        if spec.dropout_p > 0:
            spec.seed = draw_seed("torch")
        out4, lse = attention_function(q4, k4, v4, spec)  # [N, L, H, D], contiguous
        out = F.linear(out4.reshape(batch, length, heads * head_dim), self.out_proj.weight,
                       self.out_proj.bias)
        weights = None
        if need_weights:
            weights = _weights(q4, k4, v4, out4, lse, spec, average_attn_weights)
        return out, weights

    def _project(self, query, key, value):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w, b = self.in_proj_weight, self.in_proj_bias
            if query is key and key is value:  # self-attention: one product
                return F.linear(query, w, b).split(e, dim=-1)
            bq, bk, bv = b.split(e) if b is not None else (None, None, None)
            wq, wk, wv = w.split(e)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
            b = self.in_proj_bias
            bq, bk, bv = b.split(e) if b is not None else (None, None, None)
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)


def _transpose_alike(query, key, value):
    """[L, N, E] inputs as [N, L, E] views, keeping `query is key is value`."""
    q = query.transpose(0, 1)
    k = q if key is query else key.transpose(0, 1)
    v = k if value is key else value.transpose(0, 1)
    return q, k, v


def _masks(attn_mask, key_padding_mask, batch, heads, dtype):
    """PyTorch MHA's masks (bool: True = masked; float: added) as attn's two masks, NumPy views
    broadcastable to [N, H, L, S]: (keep, additive)."""
    keep, add = None, None
    for m, shape in ((attn_mask, _attn_mask_shape(attn_mask, batch, heads)),
                     (key_padding_mask, (batch, 1, 1, -1))):
        if m is None:
            continue
        m = m.detach().reshape(shape) if m.dim() != 4 else m.detach()
        if m.dtype == torch.bool:
            keep = ~m if keep is None else keep & ~m
        else:
            m = m.to(dtype)
            add = m if add is None else add + m
    return (_arrays.as_numpy(keep), _arrays.as_numpy(add))


def _attn_mask_shape(mask, batch, heads):
    if mask is None or mask.dim() == 2:
        return (1, 1) + (tuple(mask.shape) if mask is not None else ())
    if mask.dim() == 3:
        return (batch, heads) + tuple(mask.shape[1:])
    return tuple(mask.shape)


def _pad_masks(keep, add):
    """One more key column (bias_k or the zero attention): attended, nothing added."""
    if keep is not None:
        keep = np.concatenate([keep, np.ones(keep.shape[:-1] + (1,), dtype=bool)], axis=-1)
    if add is not None:
        add = np.concatenate([add, np.zeros(add.shape[:-1] + (1,), dtype=add.dtype)], axis=-1)
    return keep, add


def _weights(q4, k4, v4, out4, lse, spec, average):
    """The attention weights [N, L, S] (averaged) or [N, H, L, S], dropout applied as in
    PyTorch's module; no gradient."""
    etype = _ELEMENT_TYPES.get(q4.dtype)  # bfloat16 / float16: float32 weights, then that type
    xs = (q4, k4, v4, out4, lse)
    if etype is None:
        xs = (x.detach().numpy() for x in xs)
    w, keep = _functional._weights_and_keep(*xs, spec, False, etype)
    if keep is not None:
        w = w * keep / (1.0 - spec.dropout_p)
    w = torch.from_numpy(np.ascontiguousarray(w))
    w = w.mean(dim=1) if average else w
    return w if etype is None else w.to(q4.dtype)
