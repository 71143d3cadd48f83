"""KVCache and decode_attention against a float64 computation; the Llama checkpoint of data/
against llama2.c's own outputs; a GPT saved, loaded and sampled."""

import json
import pathlib

import numpy as np
import pytest
import torch

import attn
from reference import attention, max_err

MODELS = pathlib.Path(__file__).resolve().parents[2] / "data" / "models"


def decode_reference(q, keys, values, scale=None):
    """q [B, n, Hq, D]; keys/values [B, T, Hkv, D]: causal, the n queries are the last n."""
    qt = torch.from_numpy(q).transpose(1, 2)
    k = torch.from_numpy(keys).transpose(1, 2)
    v = torch.from_numpy(values).transpose(1, 2)
    out, _ = attention(qt, k, v, causal=True, scale=scale)
    return out.transpose(1, 2).numpy()


@pytest.mark.parametrize("layout", ["contiguous", "paged"])
@pytest.mark.parametrize("dtype,tol", [("f32", 1e-5), ("f16", 3e-3), ("bf16", 2e-2),
                                       ("q8", 3e-2)])
def test_decode_against_the_cache_contents(layout, dtype, tol):
    rng = np.random.default_rng(0)
    B, Hkv, Hq, D, T = 2, 2, 4, 32, 40
    cache = attn.KVCache(batch=B, kv_heads=Hkv, head_dim=D, dtype=dtype, layout=layout,
                         capacity=64)
    keys = rng.standard_normal((B, T, Hkv, D), dtype=np.float32)
    values = rng.standard_normal((B, T, Hkv, D), dtype=np.float32)
    cache.append_all(keys[:, :T - 3], values[:, :T - 3])
    for b in range(B):
        cache.append(b, keys[b, T - 3:], values[b, T - 3:])
    assert cache.length(0) == T and cache.kept(1) == T and cache.dtype == dtype
    q = rng.standard_normal((B, 3, Hq, D), dtype=np.float32)
    out, lse = attn.decode_attention(q, cache, return_lse=True)
    assert out.shape == (B, 3, Hq, D) and lse.shape == (B, 3, Hq)
    assert max_err(out, decode_reference(q, keys, values)) < tol
    k0, v0 = cache.read(1, 5, 1)
    assert max_err(k0, keys[1, 5, 1]) < tol * 4 and max_err(v0, values[1, 5, 1]) < tol * 4


def test_decode_equals_sdpa_on_the_last_rows():
    rng = np.random.default_rng(1)
    cache = attn.KVCache(batch=1, kv_heads=2, head_dim=16, capacity=32)
    k = rng.standard_normal((1, 20, 2, 16), dtype=np.float32)
    cache.append_all(k, k)
    q = rng.standard_normal((1, 20, 2, 16), dtype=np.float32)
    full = attn.flash_attn_func(q, k, k, causal=True)
    step = attn.decode_attention(q[:, -1:], cache)
    np.testing.assert_allclose(step[:, 0], full[:, -1], atol=1e-5)


def test_rope_on_append_and_sliding_window_with_sinks():
    rng = np.random.default_rng(2)
    cache = attn.KVCache(kv_heads=1, head_dim=8, rope=True, sink_tokens=2, window_tokens=4)
    k = rng.standard_normal((10, 1, 8), dtype=np.float32)
    cache.append(0, k, k)
    assert cache.length() == 10 and cache.kept() == 6
    assert [cache.position(0, i) for i in range(6)] == [0, 1, 6, 7, 8, 9]
    rotated = attn.apply_rope(k[9:10], start=9)
    np.testing.assert_allclose(cache.read(0, 5, 0)[0], rotated[0, 0], atol=1e-5)
    np.testing.assert_allclose(cache.read(0, 5, 0)[1], k[9, 0], atol=0)  # values are not rotated


def test_paged_cache_grows_by_blocks_and_errors_are_value_errors():
    cache = attn.KVCache(batch=2, kv_heads=1, head_dim=32, layout="paged", block_tokens=16,
                         max_blocks=3)
    x = np.zeros((20, 1, 32), np.float32)
    cache.append(0, x, x)
    assert cache.blocks_in_use == 2
    with pytest.raises(ValueError):
        cache.append(1, x, x)  # needs 2 more blocks, the pool has 1
    with pytest.raises(ValueError, match="dtype"):
        attn.KVCache(kv_heads=1, head_dim=8, dtype="f8", capacity=4)
    with pytest.raises(ValueError, match="shape"):
        cache.append(0, np.zeros((1, 2, 32), np.float32), np.zeros((1, 2, 32), np.float32))
    with pytest.raises(TypeError, match="float32"):
        cache.append(0, x.astype(np.float64), x)


def test_llama_logits_and_greedy_generation_match_llama2c():
    model = attn.Llama.load(str(MODELS / "stories260K.bin"))
    assert model.config["vocab_size"] == 512
    ref = json.loads((MODELS / "stories260K.reference.json").read_text())["greedy_token_ids"]
    got = model.generate([1], tokens=40, temperature=0.0)
    assert got == ref[:40]
    want = np.load(MODELS / "stories260K.bos_logits.npy")
    logits = model.logits([1] + ref[:7])
    assert logits.shape == (8, 512)
    np.testing.assert_allclose(logits, want, atol=1e-4)


def test_llama_sampling_is_reproducible_and_kv_dtypes_run():
    model = attn.Llama.load(str(MODELS / "stories260K.bin"))
    a = model.generate([1, 400], tokens=20, temperature=0.8, top_k=40, top_p=0.9, seed=3)
    b = model.generate([1, 400], tokens=20, temperature=0.8, top_k=40, top_p=0.9, seed=3)
    assert a == b and len(a) == 20
    assert len(model.generate([1], tokens=5, temperature=0.0, kv_dtype="q8")) == 5
    with pytest.raises(ValueError, match="top.p"):
        model.generate([1], tokens=5, top_p=0.0)
    with pytest.raises(RuntimeError):
        attn.Llama.load("/nonexistent/model.bin")


def test_gpt_saved_loaded_and_sampled(tmp_path):
    gpt = attn.Gpt(context=32, d_model=32, n_layers=2, n_heads=4, seed=1)
    path = str(tmp_path / "gpt.safetensors")
    gpt.save(path)
    loaded = attn.Gpt.load(path)
    assert loaded.config == gpt.config
    ids = list(b"hello")
    np.testing.assert_array_equal(loaded.logits(ids), gpt.logits(ids))
    text = loaded.generate("hi ", tokens=10, temperature=0.0)
    assert isinstance(text, str)
    assert loaded.generate([104, 105], tokens=10, temperature=0.0) == \
        gpt.generate([104, 105], tokens=10, temperature=0.0)


def test_cache_and_decode_take_tensors_and_give_tensors_back():
    g = torch.Generator().manual_seed(4)
    cache = attn.KVCache(batch=1, kv_heads=2, head_dim=16, capacity=16, rope=True)
    k, v = torch.randn(1, 5, 2, 16, generator=g), torch.randn(1, 5, 2, 16, generator=g)
    cache.append_all(k, v)
    cache.append(0, k[0, :1], v[0, :1])
    q = attn.apply_rope(torch.randn(2, 4, 16, generator=g), start=4)
    assert isinstance(q, torch.Tensor)
    out, lse = attn.decode_attention(q[None], cache, return_lse=True)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 4, 16) and lse.shape == (1, 2, 4)
    np.testing.assert_array_equal(out.numpy(), attn.decode_attention(q[None].numpy(), cache))
