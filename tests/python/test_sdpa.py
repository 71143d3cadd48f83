"""attn.scaled_dot_product_attention against a float64 torch computation: every option,
NumPy and torch inputs, contiguous and strided, 3-D to 5-D, GQA, fully masked rows; outputs
under the 2x rule, gradients under the 3x rule."""

import numpy as np
import pytest
import torch

import attn
from reference import assert_rule, attention, max_err


def randn(*shape, strided=False, seed=0):
    """A float32 tensor; strided: a view of every other row of a larger one."""
    g = torch.Generator().manual_seed(seed)
    if not strided:
        return torch.randn(*shape, generator=g)
    big = torch.randn(*shape[:-2], 2 * shape[-2], shape[-1] + 3, generator=g)
    return big[..., ::2, 1:shape[-1] + 1]


def bhld4(x):
    """[..., H, L, D] as 4-D [B, H, L, D] for the reference."""
    if x.dim() == 3:
        return x[None]
    return x.reshape(-1, *x.shape[-3:])


CASES = {
    "plain": dict(shape=(2, 3, 7, 16), kv=(2, 3, 9, 16)),
    "3d": dict(shape=(3, 7, 8), kv=(3, 7, 8)),
    "5d": dict(shape=(2, 2, 2, 5, 8), kv=(2, 2, 2, 6, 8)),
    "dv_differs": dict(shape=(2, 2, 5, 8), kv=(2, 2, 6, 8), dv=12),
    "causal_short_q": dict(shape=(2, 2, 5, 8), kv=(2, 2, 9, 8), is_causal=True),
    "causal_long_q": dict(shape=(2, 2, 9, 8), kv=(2, 2, 5, 8), is_causal=True),
    "scale": dict(shape=(2, 2, 6, 8), kv=(2, 2, 6, 8), scale=0.3),
    "bool_mask_2d": dict(shape=(2, 2, 6, 8), kv=(2, 2, 7, 8), mask="bool2d"),
    "bool_mask_fully_masked_rows": dict(shape=(2, 2, 6, 8), kv=(2, 2, 7, 8), mask="bool_rows"),
    "float_mask_4d": dict(shape=(2, 2, 6, 8), kv=(2, 2, 7, 8), mask="float4d"),
    "gqa": dict(shape=(2, 4, 6, 8), kv=(2, 2, 7, 8), enable_gqa=True),
    "mqa_causal": dict(shape=(1, 4, 6, 8), kv=(1, 1, 6, 8), enable_gqa=True, is_causal=True),
}


def make_mask(kind, q_shape, kv_len):
    g = torch.Generator().manual_seed(5)
    lq = q_shape[-2]
    if kind == "bool2d":
        return torch.rand(lq, kv_len, generator=g) > 0.3
    if kind == "bool_rows":  # [B, 1, Lq, Lk] with rows 0 and 3 of batch 1 wholly masked
        m = torch.rand(q_shape[0], 1, lq, kv_len, generator=g) > 0.4
        m[1, :, 0] = False
        m[1, :, 3] = False
        return m
    if kind == "float4d":
        return torch.randn(*q_shape[:-1], kv_len, generator=g)
    return None


def inputs(case, strided):
    shape, kv = case["shape"], case["kv"]
    q = randn(*shape, strided=strided, seed=1)
    k = randn(*kv, strided=strided, seed=2)
    v = randn(*kv[:-1], case.get("dv", kv[-1]), strided=strided, seed=3)
    return q, k, v, make_mask(case.get("mask"), shape, kv[-2])


def options(case, mask):
    return dict(attn_mask=mask, is_causal=case.get("is_causal", False),
                scale=case.get("scale"), enable_gqa=case.get("enable_gqa", False))


def reference(q, k, v, mask, case, dtype, keep=None, dropout_p=0.0):
    lead = q.shape[:-3]
    m = mask
    if m is not None and m.dim() == 4 and len(lead) > 1:
        m = m.reshape(-1, *m.shape[-3:])
    bool_mask = m if m is not None and m.dtype == torch.bool else None
    add = m if m is not None and m.dtype != torch.bool else None
    out, _ = attention(bhld4(q), bhld4(k), bhld4(v), bool_mask=bool_mask, additive_mask=add,
                       causal=case.get("is_causal", False), top_left=True,
                       scale=case.get("scale"), keep=keep, dropout_p=dropout_p, dtype=dtype)
    return out.reshape(*q.shape[:-1], v.shape[-1])


@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradients_follow_the_rules(name, strided):
    case = CASES[name]
    q, k, v, mask = inputs(case, strided)
    qa, ka, va = (x.clone().requires_grad_() if not strided else x.requires_grad_()
                  for x in (q, k, v))
    out = attn.scaled_dot_product_attention(qa, ka, va, **options(case, mask))
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    q32, k32, v32 = (x.detach().clone().requires_grad_() for x in (q, k, v))
    ref = reference(q64, k64, v64, mask, case, torch.float64)
    plain = reference(q32, k32, v32, mask, case, torch.float32)
    assert out.shape == ref.shape
    assert_rule(out.detach(), ref.detach(), plain.detach(), 2)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
    grads = torch.autograd.grad(out, (qa, ka, va), dout)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
    plains = torch.autograd.grad(plain, (q32, k32, v32), dout)
    for g, r, p, n in zip(grads, refs, plains, ("dq", "dk", "dv")):
        assert g.shape == r.shape
        assert_rule(g, r, p, 3, n)


@pytest.mark.parametrize("name", ["plain", "3d", "5d", "bool_mask_fully_masked_rows", "gqa"])
def test_numpy_inputs_give_numpy_and_the_same_values(name):
    case = CASES[name]
    q, k, v, mask = inputs(case, strided=True)
    opts = options(case, mask)
    expected = attn.scaled_dot_product_attention(q, k, v, **opts)
    np_opts = dict(opts, attn_mask=mask.numpy() if mask is not None else None)
    got = attn.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), **np_opts)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.numpy())


def test_float64_runs_the_float64_path():
    q, k, v, mask = inputs(CASES["float_mask_4d"], strided=False)
    q, k, v, mask = (x.double() for x in (q, k, v, mask))
    out = attn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out.dtype == torch.float64
    ref = reference(q, k, v, mask, {}, torch.float64)
    assert max_err(out, ref) < 1e-12


def test_fully_masked_rows_give_zero_not_nan():
    q = randn(1, 2, 4, 8)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[2] = False
    out = attn.scaled_dot_product_attention(q, randn(1, 2, 5, 8), randn(1, 2, 5, 8),
                                            attn_mask=mask)
    assert torch.isfinite(out).all()
    assert (out[:, :, 2] == 0).all()


def test_dropout_uses_the_documented_keep_mask_and_is_reproducible():
    q, k, v = randn(2, 2, 6, 8, seed=1), randn(2, 2, 7, 8, seed=2), randn(2, 2, 7, 8, seed=3)
    qa, ka, va = (x.clone().requires_grad_() for x in (q, k, v))
    torch.manual_seed(123)
    out = attn.scaled_dot_product_attention(qa, ka, va, dropout_p=0.3)
    torch.manual_seed(123)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    keep = torch.from_numpy(attn.dropout_keep_mask(2, 2, 6, 7, 0.3, seed))
    assert 0.5 < keep.float().mean() < 0.9
    q64, k64, v64 = (x.double().requires_grad_() for x in (q, k, v))
    ref, _ = attention(q64, k64, v64, keep=keep, dropout_p=0.3)
    plain, _ = attention(q, k, v, keep=keep, dropout_p=0.3, dtype=torch.float32)
    assert_rule(out.detach(), ref.detach(), plain, 2)
    dout = torch.randn(out.shape)
    grads = torch.autograd.grad(out, (qa, ka, va), dout)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
    for g, r in zip(grads, refs):
        assert max_err(g, r) < 1e-4
    torch.manual_seed(123)
    again = attn.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    assert torch.equal(again, out.detach())


def test_heads_must_match_without_enable_gqa():
    with pytest.raises(ValueError, match="enable_gqa"):
        attn.scaled_dot_product_attention(randn(1, 4, 3, 8), randn(1, 2, 3, 8),
                                          randn(1, 2, 3, 8))


def test_attn_mask_and_is_causal_together_are_rejected():
    q = randn(1, 1, 3, 8)
    with pytest.raises(ValueError, match="not both"):
        attn.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(3, 3, dtype=torch.bool),
                                          is_causal=True)


def test_read_only_and_broadcast_inputs_are_read_in_place():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((3, 2, 5, 8), dtype=np.float32)
    k1 = rng.standard_normal((1, 2, 6, 8), dtype=np.float32)
    k = np.broadcast_to(k1, (3, 2, 6, 8))  # read-only, batch stride 0
    out = attn.scaled_dot_product_attention(q, k, k)
    expected = attn.scaled_dot_product_attention(q, np.ascontiguousarray(k),
                                                 np.ascontiguousarray(k))
    np.testing.assert_array_equal(out, expected)
