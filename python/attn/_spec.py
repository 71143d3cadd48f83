"""The options of one attention call, as the tuple the C++ module reads (attention_call.h)."""

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _arrays


@dataclass
class Spec:
    blhd: bool = False  # q, k, v are [B, L, H, D]; else [B, H, L, D]
    bool_mask: Any = None  # NumPy bool, broadcastable to [B, Hq, Lq, Lk]; True = attend
    additive_mask: Any = None  # NumPy float of the inputs' dtype, broadcastable likewise
    alibi: Any = None  # NumPy slopes [Hq] or [B, Hq]
    scale: Optional[float] = None
    softcap: float = 0.0
    causal: bool = False
    top_left: bool = False  # causal diagonal from the top-left corner (PyTorch)
    window_left: int = -1
    window_right: int = -1
    dropout_p: float = 0.0
    seed: int = 0
    offset: int = 0
    cu_seqlens_q: Any = None  # NumPy int32 [n + 1]: packed sequences (with cu_seqlens_k)
    cu_seqlens_k: Any = None
    max_seqlen_q: int = 0  # 0: not given
    max_seqlen_k: int = 0

    def as_tuple(self):
        return (self.blhd, self.bool_mask, self.additive_mask, self.alibi, self.scale,
                self.softcap, self.causal, self.top_left, self.window_left, self.window_right,
                self.dropout_p, self.seed, self.offset, self.cu_seqlens_q, self.cu_seqlens_k,
                self.max_seqlen_q, self.max_seqlen_k)


def check_scale(scale, name="scale"):
    if scale is None:
        return None
    scale = float(scale)
    if not math.isfinite(scale):
        raise ValueError(f"attention: {name} must be finite, got {scale}")
    return scale


def check_dropout(dropout_p):
    p = float(dropout_p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1), got {p}")
    return p


def draw_seed(kind):
    """The dropout mask's seed: from torch's default generator for tensors, from NumPy's
    global one for arrays, so torch.manual_seed / np.random.seed make it reproducible."""
    if kind == "torch":
        torch = _arrays.torch_module()
        return int(torch.randint(0, 2**62, (1,)).item())
    return int(np.random.randint(0, 2**62, dtype=np.int64))


def mask_fields(mask, dtype, name="attn_mask"):
    """(bool_mask, additive_mask) of a mask: bool → kept as is, float → must be `dtype`."""
    if mask is None:
        return None, None
    if _arrays.is_tensor(mask) and mask.requires_grad:
        raise ValueError(f"{name}: gradients of a mask are not computed; pass {name}.detach()")
    m = _arrays.as_numpy(mask, name)
    if m.dtype == np.bool_:
        return m, None
    if m.dtype != dtype:
        raise TypeError(f"{name}: expected bool or the query's dtype {np.dtype(dtype)}, "
                        f"got {m.dtype}")
    return None, m
