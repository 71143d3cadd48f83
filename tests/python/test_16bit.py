"""bfloat16 and float16 inputs: widened exactly to float32, computed in float32, the output
rounded back; gradients in the leaves' type; as accurate as a plain computation in that type."""

import numpy as np
import pytest
import torch

import attn


def _inputs(dtype, seed=0, shape=(2, 37, 4, 16), requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=g) * 2).to(dtype).requires_grad_(requires_grad)
            for _ in range(3)]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_flash_attn_func_is_the_float32_result_rounded(dtype):
    q, k, v = _inputs(dtype)
    out = attn.flash_attn_func(q, k, v, causal=True, softcap=5.0)
    wide = attn.flash_attn_func(q.float(), k.float(), v.float(), causal=True, softcap=5.0)
    assert out.dtype == dtype
    assert torch.equal(out, wide.to(dtype))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gradients_reach_the_leaves_in_their_type(dtype):
    q, k, v = _inputs(dtype, seed=1, requires_grad=True)
    attn.flash_attn_func(q, k, v, causal=True).float().square().sum().backward()
    qw, kw, vw = (x.detach().float().requires_grad_() for x in (q, k, v))
    attn.flash_attn_func(qw, kw, vw, causal=True).to(dtype).float().square().sum().backward()
    for leaf, wide in ((q, qw), (k, kw), (v, vw)):
        assert leaf.grad.dtype == dtype
        assert torch.equal(leaf.grad, wide.grad.to(dtype))


def _plain(q, k, v, dtype):
    """softmax(q kᵀ / √d) v with causal masking ([B, L, H, D] inputs), each step's result
    rounded to `dtype`, as a 16-bit implementation stores it (products accumulate in float32,
    as 16-bit matrix units do; float64 stays float64)."""
    wide = torch.float64 if dtype == torch.float64 else torch.float32
    r = lambda x: x.to(dtype).to(wide)  # noqa: E731
    q, k, v = (r(x).transpose(1, 2) for x in (q, k, v))
    s = r(r(q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5)
    length = s.shape[-1]
    s = s.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), float("-inf"))
    return r(r(torch.softmax(s, dim=-1)) @ v).transpose(1, 2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_error_within_twice_that_of_a_plain_computation_in_the_same_type(dtype):
    q, k, v = _inputs(dtype, seed=2)
    exact = _plain(q, k, v, torch.float64)
    ours = (attn.flash_attn_func(q, k, v, causal=True).double() - exact).abs().max()
    plain = (_plain(q, k, v, dtype).double() - exact).abs().max()
    assert ours <= 2 * plain, (float(ours), float(plain))


def test_sdpa_and_varlen_take_16bit_tensors():
    q, k, v = (x.transpose(1, 2) for x in _inputs(torch.bfloat16, seed=3))  # [B, H, L, D]
    out = attn.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, attn.scaled_dot_product_attention(
        q.float(), k.float(), v.float(), is_causal=True).to(torch.bfloat16))
    qp, kp, vp = _inputs(torch.float16, seed=4, shape=(50, 2, 8))
    cu = torch.tensor([0, 20, 50], dtype=torch.int32)
    out = attn.flash_attn_varlen_func(qp, kp, vp, cu, cu, 30, 30, causal=True)
    assert out.dtype == torch.float16
    assert torch.equal(out, attn.flash_attn_varlen_func(
        qp.float(), kp.float(), vp.float(), cu, cu, 30, 30, causal=True).half())


def test_numpy_float16_arrays():
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((1, 2, 24, 8)).astype(np.float16) for _ in range(3))
    out = attn.scaled_dot_product_attention(q, k, v)
    assert out.dtype == np.float16
    wide = attn.scaled_dot_product_attention(*(x.astype(np.float32) for x in (q, k, v)))
    assert np.array_equal(out, wide.astype(np.float16))


def test_mixed_types_are_rejected():
    q, k, v = _inputs(torch.bfloat16)
    with pytest.raises(TypeError, match="share one dtype"):
        attn.flash_attn_func(q, k.float(), v)
