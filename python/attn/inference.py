"""Generation: the KV cache and the decode kernel, for NumPy arrays and PyTorch CPU tensors."""

from . import _arrays, _attn


class KVCache(_attn.KVCache):
    """The keys and values of `batch` sequences during generation (attn::KvCache).

    KVCache(batch=1, kv_heads=, head_dim=, v_head_dim=None, dtype="f32" | "f16" | "bf16" |
    "q8", layout="contiguous" | "paged", capacity=0, block_tokens=16, max_blocks=0,
    rope=False, rope_base=10000.0, sink_tokens=0, window_tokens=0)

    A contiguous cache needs a capacity (tokens per sequence); a paged one takes blocks of
    block_tokens from a pool as sequences grow. rope=True rotates the new keys at their
    positions on append. window_tokens W > 0 keeps the first sink_tokens tokens and the last W.
    New tokens that are not C-contiguous float32 are copied (they are small); other dtypes are
    a TypeError.
    """

    def append(self, seq, k, v):
        """Appends k [n, Hkv, D] and v [n, Hkv, Dv] to sequence `seq`."""
        super().append(seq, _arrays.as_numpy(k, "k"), _arrays.as_numpy(v, "v"))

    def append_all(self, k, v):
        """Appends k [B, n, Hkv, D] and v [B, n, Hkv, Dv]: n tokens to every sequence."""
        super().append_all(_arrays.as_numpy(k, "k"), _arrays.as_numpy(v, "v"))


def decode_attention(q, cache, *, scale=None, softcap=0.0, return_lse=False):
    """The new tokens' queries q [B, n, Hq, D] against `cache` → out [B, n, Hq, Dv] (and
    lse [B, n, Hq] with return_lse): query i of sequence b is the kept token kept_b − n + i
    and sees the kept tokens up to itself. The kind of q comes back."""
    kind = "torch" if _arrays.is_tensor(q) else "numpy"
    result = _attn.decode_attention(_arrays.as_numpy(q, "q"), cache, scale=scale,
                                    softcap=softcap, return_lse=return_lse)
    if return_lse:
        return tuple(_arrays.wrap_like(kind, r) for r in result)
    return _arrays.wrap_like(kind, result)


def apply_rope(x, start=0, base=10000.0):
    """x [n, heads, dim] rotated (RoPE) at positions start … start + n − 1, as a new array of
    x's kind."""
    kind = "torch" if _arrays.is_tensor(x) else "numpy"
    return _arrays.wrap_like(kind, _attn.apply_rope(_arrays.as_numpy(x, "x"), start, base))
