"""attn: LLM attention kernels on the CPU, for NumPy and PyTorch.

    attn.scaled_dot_product_attention(q, k, v, ...)   PyTorch's signature and semantics
    attn.flash_attn_func(q, k, v, ...)                 FlashAttention's
    attn.flash_attn_varlen_func(q, k, v, cu_q, cu_k, ...)  its packed variable-length form
    attn.torch.MultiheadAttention                      a drop-in for torch.nn.MultiheadAttention
    attn.KVCache, attn.decode_attention                generation against a KV cache
    attn.Gpt, attn.Llama                               models: logits and generation
    attn.attention_weights, attn.viz.heatmap           pictures of the weights
    attn.viz.explorer                                  an HTML page to explore them

NumPy arrays and PyTorch CPU tensors are read in place (float32 runs the kernels, float64 the
float64 reference; bfloat16 and float16 run the kernels on the 16-bit inputs, in float32
arithmetic, the output rounded back to their type) and results come back as the same kind.
Gradients flow through attn's flash backward when tensors need them (import attn.torch, or call
the functions on such tensors).
"""

from . import _attn
from ._attn import (
    Gpt,
    Llama,
    get_num_threads,
    set_num_threads,
    simd_target,
    supported_simd_targets,
)
from .functional import (
    attention_weights,
    flash_attn_func,
    flash_attn_varlen_func,
    scaled_dot_product_attention,
)
from .inference import KVCache, apply_rope, decode_attention

__version__ = _attn.version()


def dropout_keep_mask(batch, heads, q_len, kv_len, dropout_p, seed, offset=0):
    """The keep bits [B, H, Lq, Lk] (True = kept) of attention dropout for a seed: a pure
    function of (seed, offset, b, h, i, j), whatever the tiling or the thread count."""
    return _attn.dropout_keep(batch, heads, q_len, kv_len, dropout_p, seed, offset, False)


def __getattr__(name):
    """attn.torch and attn.viz load on first use (attn.torch imports PyTorch)."""
    if name in ("torch", "viz"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'attn' has no attribute '{name}'")


__all__ = [
    "__version__", "scaled_dot_product_attention", "flash_attn_func", "flash_attn_varlen_func",
    "attention_weights",
    "KVCache", "decode_attention", "apply_rope", "Gpt", "Llama", "set_num_threads",
    "get_num_threads", "simd_target", "supported_simd_targets", "dropout_keep_mask",
]
