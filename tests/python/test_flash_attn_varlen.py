"""attn.flash_attn_varlen_func: packed sequences against the float64 torch computation of each
sequence alone (FlashAttention's semantics: bottom-right causal and windows within a
sequence), outputs under the 2x rule and gradients under the 3x rule; against
flash_attn_func on each sequence; probabilities, dropout and errors."""

import numpy as np
import pytest
import torch

import attn
from reference import assert_rule, attention, blhd, max_err

H, HK, D = 4, 2, 16
LENGTHS_Q = [5, 17, 1, 0, 9]
LENGTHS_K = [7, 17, 4, 3, 2]


def offsets(lengths):
    return torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)


def packed_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(sum(LENGTHS_Q), H, D, generator=g)
    k = torch.randn(sum(LENGTHS_K), HK, D, generator=g)
    v = torch.randn(sum(LENGTHS_K), HK, D, generator=g)
    return q, k, v


CASES = {
    "plain": dict(),
    "causal": dict(causal=True),
    "window": dict(window_size=(3, 1)),
    "softcap_alibi": dict(softcap=3.0, alibi_slopes=torch.tensor([0.1, 0.2, 0.3, 0.4]),
                          causal=True),
}


def per_sequence_reference(q, k, v, kw, dtype):
    """out [total_q, H, D] computed sequence by sequence in `dtype`."""
    cq, ck = offsets(LENGTHS_Q), offsets(LENGTHS_K)
    outs = []
    for i in range(len(LENGTHS_Q)):
        qs, ks, vs = q[cq[i]:cq[i + 1]], k[ck[i]:ck[i + 1]], v[ck[i]:ck[i + 1]]
        if qs.shape[0] == 0:
            continue
        if ks.shape[0] == 0:
            outs.append(torch.zeros(qs.shape, dtype=dtype))
            continue
        out, _ = attention(blhd(qs[None]), blhd(ks[None]), blhd(vs[None]),
                           causal=kw.get("causal", False), window=kw.get("window_size", (-1, -1)),
                           softcap=kw.get("softcap", 0.0), alibi=kw.get("alibi_slopes"),
                           dtype=dtype)
        outs.append(blhd(out)[0])
    return torch.cat(outs)


def call(q, k, v, **kw):
    return attn.flash_attn_varlen_func(q, k, v, offsets(LENGTHS_Q), offsets(LENGTHS_K),
                                       max(LENGTHS_Q), max(LENGTHS_K), **kw)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradients_follow_the_rules(name):
    kw = CASES[name]
    q, k, v = packed_inputs()
    qa, ka, va = (x.detach().requires_grad_() for x in (q, k, v))
    out = call(qa, ka, va, **kw)
    assert out.shape == (sum(LENGTHS_Q), H, D)
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    q32, k32, v32 = (x.detach().clone().requires_grad_() for x in (q, k, v))
    ref = per_sequence_reference(q64, k64, v64, kw, torch.float64)
    plain = per_sequence_reference(q32, k32, v32, kw, torch.float32)
    assert_rule(out.detach(), ref.detach(), plain.detach(), 2)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    grads = torch.autograd.grad(out, (qa, ka, va), dout)
    refs = torch.autograd.grad(ref, (q64, k64, v64), dout.double(), allow_unused=True)
    plains = torch.autograd.grad(plain, (q32, k32, v32), dout, allow_unused=True)
    for g, r, p, n in zip(grads, refs, plains, ("dq", "dk", "dv")):
        assert_rule(g, r, p, 3, n)


def test_each_sequence_equals_flash_attn_func_on_it_alone():
    q, k, v = packed_inputs(1)
    out = call(q.numpy(), k.numpy(), v.numpy(), causal=True)
    assert isinstance(out, np.ndarray)
    cq, ck = offsets(LENGTHS_Q), offsets(LENGTHS_K)
    for i in range(len(LENGTHS_Q)):
        if LENGTHS_Q[i] == 0:
            continue
        alone = attn.flash_attn_func(q[None, cq[i]:cq[i + 1]], k[None, ck[i]:ck[i + 1]],
                                     v[None, ck[i]:ck[i + 1]], causal=True)
        np.testing.assert_array_equal(out[cq[i]:cq[i + 1]], alone[0].numpy())


def test_return_attn_probs_gives_each_sequences_weights():
    q, k, v = packed_inputs(2)
    out, lse, probs = call(q, k, v, causal=True, return_attn_probs=True)
    assert lse.shape == (H, sum(LENGTHS_Q))
    assert probs.shape == (len(LENGTHS_Q), H, max(LENGTHS_Q), max(LENGTHS_K))
    cq, ck = offsets(LENGTHS_Q), offsets(LENGTHS_K)
    for i in (0, 1, 4):
        _, w = attention(blhd(q[None, cq[i]:cq[i + 1]]), blhd(k[None, ck[i]:ck[i + 1]]),
                         blhd(v[None, ck[i]:ck[i + 1]]), causal=True)
        assert max_err(probs[i, :, :LENGTHS_Q[i], :LENGTHS_K[i]], w[0]) < 1e-5
        assert (probs[i, :, LENGTHS_Q[i]:] == 0).all() and (probs[i, :, :, LENGTHS_K[i]:] == 0).all()
    assert torch.equal(out, call(q, k, v, causal=True))


def test_dropout_follows_the_negated_probabilities():
    q, k, v = packed_inputs(3)
    torch.manual_seed(0)
    out, _, probs = call(q, k, v, dropout_p=0.3, return_attn_probs=True)
    cq, ck = offsets(LENGTHS_Q), offsets(LENGTHS_K)
    for i in (0, 1, 4):
        block = probs[i, :, :LENGTHS_Q[i], :LENGTHS_K[i]]
        kept = torch.where(block >= 0, block, torch.zeros_like(block)) / 0.7
        vs = v[ck[i]:ck[i + 1]].repeat_interleave(H // HK, 1).transpose(0, 1).double()
        want = (kept.double() @ vs).transpose(0, 1)
        assert max_err(out[cq[i]:cq[i + 1]], want) < 1e-5
    assert (probs < 0).any()


def test_bad_offsets_are_clear_errors():
    q, k, v = packed_inputs()
    bad = offsets(LENGTHS_Q).clone()
    bad[2] = 1
    with pytest.raises(ValueError, match="cu_seqlens_q decreases"):
        attn.flash_attn_varlen_func(q, k, v, bad, offsets(LENGTHS_K), 17, 17)
    long_k = offsets(LENGTHS_K).clone()
    long_k[-1] += 1
    with pytest.raises(ValueError, match="must equal total keys"):
        attn.flash_attn_varlen_func(q, k, v, offsets(LENGTHS_Q), long_k, 17, 17)
    with pytest.raises(ValueError, match="the same number"):
        attn.flash_attn_varlen_func(q, k, v, offsets(LENGTHS_Q), offsets(LENGTHS_K)[:-1], 17, 17)
    with pytest.raises(ValueError, match="maximum length"):
        attn.flash_attn_varlen_func(q, k, v, offsets(LENGTHS_Q), offsets(LENGTHS_K), 4, 17)
    with pytest.raises(ValueError, match=r"expected \[total, heads, headdim\]"):
        attn.flash_attn_varlen_func(q[None], k, v, offsets(LENGTHS_Q), offsets(LENGTHS_K), 17, 17)
    with pytest.raises(TypeError, match="float32"):
        attn.flash_attn_varlen_func(q.double(), k.double(), v.double(), offsets(LENGTHS_Q),
                                    offsets(LENGTHS_K), 17, 17)
