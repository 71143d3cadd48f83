"""attn.flash_attn_func against a float64 torch computation with FlashAttention's semantics:
[B, L, H, D] layout, causal and windows aligned bottom-right, softcap, ALiBi [H] and [B, H],
GQA, dropout, return_attn_probs; outputs under the 2x rule, gradients under the 3x rule."""

import numpy as np
import pytest
import torch

import attn
from reference import assert_rule, attention, blhd, max_err


def randn(*shape, seed=0, strided=False):
    g = torch.Generator().manual_seed(seed)
    if not strided:
        return torch.randn(*shape, generator=g)
    b, length, h, d = shape  # a [B, H, L, D] tensor seen as [B, L, H, D]
    return torch.randn(b, h, length, d + 2, generator=g)[..., :d].transpose(1, 2)


CASES = {
    "plain": dict(lq=7, lk=9),
    "causal_short_q": dict(lq=5, lk=9, causal=True),
    "causal_long_q": dict(lq=9, lk=5, causal=True),
    "window": dict(lq=8, lk=8, window=(3, 2)),
    "window_causal": dict(lq=6, lk=10, window=(4, -1), causal=True),
    "softcap": dict(lq=7, lk=7, softcap=2.0, scale=1.0),
    "alibi_h": dict(lq=6, lk=9, alibi="h"),
    "alibi_bh_causal": dict(lq=6, lk=9, alibi="bh", causal=True),
    "gqa": dict(lq=6, lk=7, hk=1),
    "scale": dict(lq=5, lk=6, scale=0.2),
}
B, H, D = 2, 4, 16


def case_inputs(case, strided):
    hk = case.get("hk", H)
    q = randn(B, case["lq"], H, D, seed=1, strided=strided)
    k = randn(B, case["lk"], hk, D, seed=2, strided=strided)
    v = randn(B, case["lk"], hk, D, seed=3, strided=strided)
    alibi = None
    if case.get("alibi") == "h":
        alibi = torch.rand(H) * 0.5
    elif case.get("alibi") == "bh":
        alibi = torch.rand(B, H) * 0.5
    return q, k, v, alibi


def kwargs(case, alibi):
    return dict(causal=case.get("causal", False), window_size=case.get("window", (-1, -1)),
                softcap=case.get("softcap", 0.0), softmax_scale=case.get("scale"),
                alibi_slopes=alibi)


def reference(q, k, v, case, alibi, dtype, keep=None, dropout_p=0.0):
    out, w = attention(blhd(q), blhd(k), blhd(v), causal=case.get("causal", False),
                       window=case.get("window", (-1, -1)), scale=case.get("scale"),
                       softcap=case.get("softcap", 0.0), alibi=alibi, keep=keep,
                       dropout_p=dropout_p, dtype=dtype)
    return blhd(out), w


@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradients_follow_the_rules(name, strided):
    case = CASES[name]
    q, k, v, alibi = case_inputs(case, strided)
    qa, ka, va = (x.detach().requires_grad_() for x in (q, k, v))
    out = attn.flash_attn_func(qa, ka, va, **kwargs(case, alibi))
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    q32, k32, v32 = (x.detach().clone().requires_grad_() for x in (q, k, v))
    ref, _ = reference(q64, k64, v64, case, alibi, torch.float64)
    plain, _ = reference(q32, k32, v32, case, alibi, torch.float32)
    assert out.shape == (B, case["lq"], H, D)
    assert_rule(out.detach(), ref.detach(), plain.detach(), 2)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    grads = torch.autograd.grad(out, (qa, ka, va), dout)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
    plains = torch.autograd.grad(plain, (q32, k32, v32), dout)
    for g, r, p, n in zip(grads, refs, plains, ("dq", "dk", "dv")):
        assert_rule(g, r, p, 3, n)


@pytest.mark.parametrize("name", ["plain", "causal_short_q", "alibi_bh_causal", "softcap"])
def test_return_attn_probs_gives_lse_and_probabilities(name):
    case = CASES[name]
    q, k, v, alibi = case_inputs(case, strided=False)
    out, lse, probs = attn.flash_attn_func(q, k, v, return_attn_probs=True, **kwargs(case, alibi))
    _, w = reference(q, k, v, case, alibi, torch.float64)
    assert lse.shape == (B, H, case["lq"]) and probs.shape == (B, H, case["lq"], case["lk"])
    assert max_err(probs, w) < 1e-5
    assert torch.equal(out, attn.flash_attn_func(q, k, v, **kwargs(case, alibi)))
    # lse: the log-sum-exp of the scores; exp(s − lse) gives the weights back
    np.testing.assert_allclose(torch.logsumexp(torch.log(w.clamp_min(1e-300)) + lse.double()
                                               [..., None], -1)[w.sum(-1) > 0].numpy(),
                               lse.double()[w.sum(-1) > 0].numpy(), atol=1e-5)


@pytest.mark.parametrize("alibi_kind", [None, "bh"])
def test_dropout_matches_the_mask_of_the_returned_probabilities(alibi_kind):
    case = dict(lq=6, lk=8, causal=True, alibi=alibi_kind)
    q, k, v, alibi = case_inputs(case, strided=False)
    qa, ka, va = (x.detach().requires_grad_() for x in (q, k, v))
    out, _, probs = attn.flash_attn_func(qa, ka, va, dropout_p=0.25, return_attn_probs=True,
                                         **kwargs(case, alibi))
    keep = probs >= 0  # FlashAttention's S_dmask: dropped weights are negated
    assert (probs.abs() <= 1).all() and (~keep).any()
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    q32, k32, v32 = (x.detach().clone().requires_grad_() for x in (q, k, v))
    ref, _ = reference(q64, k64, v64, case, alibi, torch.float64, keep, 0.25)
    plain, _ = reference(q32, k32, v32, case, alibi, torch.float32, keep, 0.25)
    assert_rule(out.detach(), ref.detach(), plain.detach(), 2)
    dout = torch.randn(out.shape)
    grads = torch.autograd.grad(out, (qa, ka, va), dout)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double())
    plains = torch.autograd.grad(plain, (q32, k32, v32), dout)
    for g, r, p in zip(grads, refs, plains):
        assert_rule(g, r, p, 3)


def test_numpy_inputs_give_numpy():
    q, k, v, alibi = case_inputs(CASES["alibi_bh_causal"], strided=True)
    expected = attn.flash_attn_func(q, k, v, causal=True, alibi_slopes=alibi)
    got = attn.flash_attn_func(q.numpy(), k.numpy(), v.numpy(), causal=True,
                               alibi_slopes=alibi.numpy())
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected.numpy())


def test_backward_is_deterministic():
    q, k, v, _ = case_inputs(CASES["gqa"], strided=False)
    grads = []
    for threads in (1, 2):
        attn.set_num_threads(threads)
        qa, ka, va = (x.detach().requires_grad_() for x in (q, k, v))
        attn.flash_attn_func(qa, ka, va, causal=True, deterministic=True).square().sum().backward()
        grads.append((qa.grad, ka.grad, va.grad))
    for a, b in zip(*grads):
        assert torch.equal(a, b)
