"""bfloat16 and float16 inputs: read in place by the kernels (no float32 copies), computed in
float32 as on the inputs widened exactly, the output rounded back; gradients in the leaves'
type; as accurate as a plain computation in that type."""

import os
import subprocess
import sys

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


# ---------------------------------------------------------------- the kernels' 16-bit path
# q, k, v (and dout) are read in place as 16 bits; every result must equal, bit for bit, the
# float32 computation on the widened inputs with the output (and the gradients) rounded.


def _same(a, b):
    """Bitwise equality of two tensors or arrays (NaNs included)."""
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    bits = torch.int16 if a.element_size() == 2 else torch.int32
    return (a.dtype == b.dtype and a.shape == b.shape
            and torch.equal(a.contiguous().view(bits), b.contiguous().view(bits)))


def _rounded(result, dtype):
    """The float32 function's result as the 16-bit call returns it: out rounded, the rest
    (lse, probs) float32."""
    if isinstance(result, tuple):
        return (result[0].to(dtype),) + result[1:]
    return result.to(dtype)


def _check_against_float32(fn, q, k, v, dtype, grad=False, seed=7, **kwargs):
    """fn on 16-bit q, k, v against fn on their float32 widening, rounded, forward and (grad)
    backward; the same dropout seed for both."""
    q16, k16, v16 = (x.to(dtype).detach().requires_grad_(grad) for x in (q, k, v))
    qw, kw, vw = (x.detach().float().requires_grad_(grad) for x in (q16, k16, v16))
    torch.manual_seed(seed)
    ours = fn(q16, k16, v16, **kwargs)
    torch.manual_seed(seed)
    wide = _rounded(fn(qw, kw, vw, **kwargs), dtype)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,),
                    wide if isinstance(wide, tuple) else (wide,)):
        assert _same(a.detach(), b.detach())
    if not grad:
        return
    out = ours[0] if isinstance(ours, tuple) else ours
    g = torch.Generator().manual_seed(seed + 1)
    dout = torch.randn(out.shape, generator=g).to(dtype)
    out.backward(dout)
    (wide[0] if isinstance(wide, tuple) else wide).float().backward(dout.float())
    for leaf, w in ((q16, qw), (k16, kw), (v16, vw)):
        assert leaf.grad.dtype == dtype
        assert _same(leaf.grad, w.grad.to(dtype))


def _randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 2


_FLASH_OPTIONS = [
    dict(),
    dict(causal=True, softcap=4.0),
    dict(window_size=(5, 3)),
    dict(softmax_scale=0.3, causal=True),
    dict(dropout_p=0.3),
    dict(alibi_slopes=torch.tensor([0.5, 0.25, 0.125, 0.0625])),
    dict(alibi_slopes=torch.rand(2, 4, generator=torch.Generator().manual_seed(3))),
    dict(return_attn_probs=True, causal=True),
    dict(return_attn_probs=True, dropout_p=0.2, alibi_slopes=torch.tensor([0.5, 0.2, 0.1, 0.1])),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", range(len(_FLASH_OPTIONS)))
@pytest.mark.parametrize("grad", [False, True])
def test_flash_attn_func_16bit_is_float32_then_rounded_bitwise(dtype, options, grad):
    q = _randn(2, 37, 4, 24, seed=1)
    k, v = _randn(2, 53, 2, 24, seed=2), _randn(2, 53, 2, 16, seed=3)  # GQA, Dv != D
    _check_against_float32(attn.flash_attn_func, q, k, v, dtype, grad=grad,
                           **_FLASH_OPTIONS[options])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("grad", [False, True])
def test_strided_inputs_are_read_in_place(dtype, grad):
    # q a slice of a wider tensor, k and v transposed views: no contiguous copies needed.
    def fn(q, k, v, **kwargs):
        return attn.flash_attn_func(q[..., 8:24], k.transpose(1, 2), v.permute(1, 0, 2, 3),
                                    **kwargs)

    q = _randn(2, 30, 4, 40, seed=4)
    k, v = _randn(2, 4, 45, 16, seed=5), _randn(45, 2, 4, 16, seed=6)
    _check_against_float32(fn, q, k, v, dtype, grad=grad, causal=True)


_SDPA_OPTIONS = [
    dict(),
    dict(is_causal=True),
    dict(attn_mask="bool"),
    dict(attn_mask="float"),
    dict(scale=0.2, dropout_p=0.25),
    dict(enable_gqa=True),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", range(len(_SDPA_OPTIONS)))
@pytest.mark.parametrize("grad", [False, True])
def test_sdpa_16bit_is_float32_then_rounded_bitwise(dtype, options, grad):
    kwargs = dict(_SDPA_OPTIONS[options])
    kv_heads = 2 if kwargs.get("enable_gqa") else 4
    q = _randn(3, 4, 21, 16, seed=7)
    k, v = _randn(3, kv_heads, 33, 16, seed=8), _randn(3, kv_heads, 33, 8, seed=9)
    if kwargs.get("attn_mask") == "bool":
        kwargs["attn_mask"] = torch.rand(3, 1, 21, 33,
                                         generator=torch.Generator().manual_seed(1)) > 0.3
    elif kwargs.get("attn_mask") == "float":  # additive masks stay float32
        kwargs["attn_mask"] = _randn(21, 33, seed=10)
    _check_against_float32(attn.scaled_dot_product_attention, q, k, v, dtype, grad=grad,
                           **kwargs)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(12, 8), (3, 12, 8), (2, 2, 3, 12, 8)])
def test_sdpa_16bit_any_leading_dimensions(dtype, shape):
    q, k, v = (_randn(*shape, seed=s) for s in (11, 12, 13))
    _check_against_float32(attn.scaled_dot_product_attention, q, k, v, dtype, grad=True,
                           is_causal=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("options", [dict(causal=True), dict(return_attn_probs=True),
                                     dict(dropout_p=0.2, window_size=(4, 4), softcap=3.0)])
def test_varlen_16bit_is_float32_then_rounded_bitwise(dtype, grad, options):
    cu_q = torch.tensor([0, 7, 30, 41], dtype=torch.int32)
    cu_k = torch.tensor([0, 12, 30, 50], dtype=torch.int32)
    q, k, v = _randn(41, 4, 16, seed=14), _randn(50, 2, 16, seed=15), _randn(50, 2, 8, seed=16)

    def fn(q, k, v, **kw):
        return attn.flash_attn_varlen_func(q, k, v, cu_q, cu_k, 23, 20, **kw)

    _check_against_float32(fn, q, k, v, dtype, grad=grad, **options)


@pytest.mark.parametrize("options", [dict(), dict(is_causal=True, scale=0.5),
                                     dict(attn_mask=np.tril(np.ones((24, 30), dtype=bool))),
                                     dict(dropout_p=0.3)])
def test_numpy_float16_is_float32_then_rounded_bitwise(options):
    rng = np.random.default_rng(17)
    q = rng.standard_normal((2, 3, 24, 16)).astype(np.float16)
    k, v = (rng.standard_normal((2, 3, 30, 16)).astype(np.float16) for _ in range(2))
    np.random.seed(3)
    out = attn.scaled_dot_product_attention(q, k, v, **options)
    np.random.seed(3)
    wide = attn.scaled_dot_product_attention(*(x.astype(np.float32) for x in (q, k, v)),
                                             **options)
    assert _same(out, wide.astype(np.float16))
    # flash_attn_func's layout, probs too, on a non-contiguous view
    qb, kb, vb = (x.transpose(0, 2, 1, 3) for x in (q, k, v))
    out, lse, probs = attn.flash_attn_func(qb, kb, vb, causal=True, return_attn_probs=True)
    wide = attn.flash_attn_func(*(x.astype(np.float32) for x in (qb, kb, vb)), causal=True,
                                return_attn_probs=True)
    assert _same(out, wide[0].astype(np.float16))
    assert _same(lse, wide[1]) and _same(probs, wide[2])


def test_special_values_round_as_the_float32_path():
    # Infinite (overflowed) and NaN inputs give the float32 path's infinities and NaNs.
    q = _randn(1, 9, 2, 8, seed=18)
    k = _randn(1, 9, 2, 8, seed=19)
    v = _randn(1, 9, 2, 8, seed=20) * 2e4
    v[0, 3, 1, 2] = float("nan")
    _check_against_float32(attn.flash_attn_func, q, k, v, torch.float16)


def test_16bit_inputs_are_not_copied_to_float32():
    # The kernel reads the caller's 16-bit memory: a NaN written into q after the call is
    # seen by the next call, through any view, without a float32 copy in between (the memory
    # figures are in test_16bit_memory below).
    q, k, v = (x.to(torch.bfloat16) for x in _inputs(torch.float32, seed=21))
    out = attn.flash_attn_func(q, k, v)
    assert not out.isnan().any()
    q[0, 0, 0, 0] = float("nan")
    assert attn.flash_attn_func(q, k, v)[0, 0, 0].isnan().all()


_MEMORY_CHILD = r"""
import resource, sys
import torch, attn
torch.set_num_threads(1)
attn.set_num_threads(1)
step, dtype = sys.argv[1], getattr(torch, sys.argv[2])
L, H, D, DV = 8192, 8, 256, 64  # q, k 32 MiB each in bfloat16, v and dout 8 MiB
g = torch.Generator().manual_seed(0)
def randn(*shape):
    return torch.empty(shape, dtype=dtype).normal_(generator=g)
q, k, v, dout = randn(1, L, H, D), randn(1, L, H, D), randn(1, L, H, DV), randn(1, L, H, DV)
attn.flash_attn_func(*(x[:, :64].contiguous() for x in (q, k, v)), window_size=(32, 0))
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
base = peak()
if step == "backward":
    for x in (q, k, v):
        x.requires_grad_()
out = attn.flash_attn_func(q, k, v, window_size=(32, 0))
if step == "backward":
    out.backward(dout)
print(peak() - base)
"""


def _memory_growth(step, dtype):
    """MiB the peak resident memory of a fresh process grows by in one flash_attn_func call
    (and its backward) on q, k [1, 8192, 8, 256] and v [1, 8192, 8, 64] of `dtype`."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(attn.__file__)))
    return float(subprocess.run([sys.executable, "-c", _MEMORY_CHILD, step, dtype], env=env,
                                check=True, capture_output=True, text=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_16bit_memory():
    # bfloat16 q, k: 32 MiB each, v and dout 8 MiB; float32 copies of q, k, v would be 144
    # MiB. The forward adds only its bfloat16 output (8 MiB). The backward adds what the
    # float32 one does (its float32 output, the kernel's float32 gradients and scratch) plus
    # the bfloat16 output and gradients (8 + 72 MiB); a float32 copy of q alone is 64 more.
    forward = _memory_growth("forward", "bfloat16")
    assert forward < 8 + 24, forward
    backward, backward32 = _memory_growth("backward", "bfloat16"), _memory_growth("backward",
                                                                                  "float32")
    assert backward < backward32 + 80 + 32, (backward, backward32)


@pytest.mark.parametrize("dtype", [torch.bfloat16])  # PyTorch 1.13 has no float16 F.linear
def test_multihead_attention_in_16bit(dtype):
    # The module in 16 bits: its attention reads the 16-bit projections in place. Against the
    # same module in float32 (16-bit representable parameters and inputs): only the 16-bit
    # rounding of the projections and products differs.
    import attn.torch

    torch.manual_seed(22)
    wide = attn.torch.MultiheadAttention(32, 4, batch_first=True)
    with torch.no_grad():
        for p in wide.parameters():
            p.copy_(p.to(dtype))
    narrow = attn.torch.MultiheadAttention(32, 4, batch_first=True).to(dtype)
    narrow.load_state_dict(wide.state_dict())
    h = torch.randn(2, 10, 32).to(dtype)
    mask = torch.randn(10, 10)  # an additive float32 mask
    padding = torch.zeros(2, 10, dtype=torch.bool)
    padding[1, 7:] = True
    y, w = narrow(h, h, h, attn_mask=mask, key_padding_mask=padding)
    y_wide, w_wide = wide(h.float(), h.float(), h.float(), attn_mask=mask,
                          key_padding_mask=padding)
    assert y.dtype == dtype and w.dtype == dtype
    tol = 0.05 if dtype == torch.bfloat16 else 0.01
    assert torch.allclose(y.float(), y_wide, atol=tol, rtol=tol)
    assert torch.allclose(w.float(), w_wide, atol=tol, rtol=tol)
    y.float().square().sum().backward()
    assert narrow.in_proj_weight.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", [dict(is_causal=True), dict(rows=(3, 9), average_heads=True),
                                     dict(attn_mask="bool", enable_gqa=True)])
def test_attention_weights_of_16bit_inputs(dtype, options):
    kwargs = dict(options)
    kv_heads = 2 if kwargs.get("enable_gqa") else 4
    q = _randn(2, 4, 12, 16, seed=23).to(dtype).requires_grad_()
    k, v = (_randn(2, kv_heads, 15, 16, seed=s).to(dtype) for s in (24, 25))
    if kwargs.get("attn_mask") == "bool":
        kwargs["attn_mask"] = torch.rand(12, 15, generator=torch.Generator().manual_seed(2)) > .4
    w = attn.attention_weights(q, k, v, **kwargs)
    wide = attn.attention_weights(q.detach().float(), k.float(), v.float(), **kwargs)
    assert w.dtype == torch.float32 and not w.requires_grad
    assert _same(w, wide)
    qn, kn = (x.detach().numpy() if dtype == torch.float16 else None for x in (q, k))
    if qn is not None:  # NumPy float16
        assert _same(attn.attention_weights(qn, kn, v.numpy(), **kwargs), wide.numpy())
