"""Bad input gives a clear exception (never a crash, never a silent copy); calls do not leak;
Python threads may call at once."""

import resource
import threading

import numpy as np
import pytest
import torch

import attn


def t(*shape):
    return torch.randn(*shape)


def test_wrong_dtype_is_a_type_error():
    q = t(1, 2, 4, 8)
    with pytest.raises(TypeError, match="float32 or float64"):
        attn.scaled_dot_product_attention(q.int(), q.int(), q.int())
    with pytest.raises(TypeError, match="share one dtype"):
        attn.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(TypeError, match="float32 or float64"):
        attn.flash_attn_func(np.zeros((1, 2, 2, 4), np.int32), np.zeros((1, 2, 2, 4), np.int32),
                             np.zeros((1, 2, 2, 4), np.int32))
    with pytest.raises(TypeError, match="attn_mask"):
        attn.scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="NumPy array or a PyTorch tensor"):
        attn.scaled_dot_product_attention([[1.0]], q, q)


def test_shape_mismatch_is_a_value_error_with_the_library_message():
    with pytest.raises(ValueError, match="head dim"):
        attn.scaled_dot_product_attention(t(1, 2, 4, 8), t(1, 2, 4, 6), t(1, 2, 4, 8))
    with pytest.raises(ValueError, match="batch"):
        attn.scaled_dot_product_attention(t(2, 2, 4, 8), t(1, 2, 4, 8), t(1, 2, 4, 8))
    with pytest.raises(ValueError, match="broadcast"):
        attn.scaled_dot_product_attention(t(1, 2, 4, 8), t(1, 2, 4, 8), t(1, 2, 4, 8),
                                          attn_mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="multiple"):
        attn.flash_attn_func(t(1, 4, 3, 8), t(1, 4, 2, 8), t(1, 4, 2, 8))
    with pytest.raises(ValueError, match="alibi_slopes"):
        attn.flash_attn_func(t(1, 4, 2, 8), t(1, 4, 2, 8), t(1, 4, 2, 8),
                             alibi_slopes=torch.ones(3))
    with pytest.raises(ValueError, match="batch, seqlen, heads, headdim"):
        attn.flash_attn_func(t(4, 2, 8), t(4, 2, 8), t(4, 2, 8))


def test_non_cpu_and_sparse_tensors_are_rejected():
    meta = torch.empty(1, 2, 4, 8, device="meta")
    with pytest.raises(ValueError, match="CPU"):
        attn.scaled_dot_product_attention(meta, meta, meta)
    sparse = t(1, 2, 4, 8).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        attn.scaled_dot_product_attention(sparse, sparse, sparse)


def test_non_contiguous_last_dimension_is_rejected_not_copied():
    q = t(1, 2, 8, 4).transpose(-1, -2)  # [1, 2, 4, 8], last stride 4
    k = t(1, 2, 4, 8)
    with pytest.raises(ValueError, match="last dimension must be contiguous"):
        attn.scaled_dot_product_attention(q, k, k)
    with pytest.raises(ValueError, match="last dimension must be contiguous"):
        attn.scaled_dot_product_attention(q.numpy(), k.numpy(), k.numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_scale_is_a_value_error(dtype):
    q = t(1, 1, 3, 4).to(dtype)
    with pytest.raises(ValueError, match="scale must be finite"):
        attn.scaled_dot_product_attention(q, q, q, scale=float("nan"))
    with pytest.raises(ValueError, match="softmax_scale must be finite|scale must be finite"):
        attn.flash_attn_func(q, q, q, softmax_scale=float("inf"))


def test_bad_options_are_value_errors():
    q = t(1, 3, 2, 4)
    with pytest.raises(ValueError, match="dropout_p"):
        attn.flash_attn_func(q, q, q, dropout_p=1.0)
    with pytest.raises(ValueError, match="softcap"):
        attn.flash_attn_func(q, q, q, softcap=-1.0)
    with pytest.raises(ValueError, match="detach"):
        attn.scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(3, 3, requires_grad=True))
    with pytest.raises(ValueError, match="n must be >= 1"):
        attn.set_num_threads(0)


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def test_ten_thousand_calls_keep_resident_memory_flat():
    q = np.random.rand(1, 1, 16, 64).astype(np.float32)
    qt = torch.from_numpy(q).requires_grad_()
    for _ in range(500):  # warm up allocators and caches
        attn.scaled_dot_product_attention(q, q, q)
    before = rss_kib()
    for i in range(10_000):
        attn.scaled_dot_product_attention(q, q, q, is_causal=bool(i & 1))
        if i % 10 == 0:
            attn.flash_attn_func(qt, qt, qt).sum().backward()
    grown = rss_kib() - before
    assert grown < 4096, f"resident memory grew by {grown} KiB"


def test_four_threads_at_once_give_correct_results():
    rng = np.random.default_rng(0)
    problems = [tuple(rng.standard_normal((2, 4, 64, 32), dtype=np.float32) for _ in range(3))
                for _ in range(4)]
    expected = [attn.scaled_dot_product_attention(*p, is_causal=True) for p in problems]
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(50):
                out = attn.scaled_dot_product_attention(*problems[i], is_causal=True)
                if not np.array_equal(out, expected[i]):
                    raise AssertionError(f"thread {i}: wrong result")
            results[i] = True
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert len(results) == 4


def test_version_and_runtime():
    assert attn.__version__.count(".") == 2
    assert attn.simd_target() in attn.supported_simd_targets()
    n = attn.get_num_threads()
    attn.set_num_threads(1)
    assert attn.get_num_threads() == 1
    attn.set_num_threads(n)
