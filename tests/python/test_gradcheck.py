"""torch.autograd.gradcheck through the float64 path, every option of both functions."""

import pytest
import torch

import attn


def leaf(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.float64, generator=g).requires_grad_()


SDPA = {
    "plain": dict(),
    "causal": dict(is_causal=True),
    "bool_mask": dict(attn_mask=torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 1],
                                               [1, 1, 0, 1, 1]], dtype=torch.bool)),
    "float_mask": dict(attn_mask=torch.randn(4, 5, dtype=torch.float64)),
    "scale_gqa": dict(scale=0.7, enable_gqa=True),
    "dropout": dict(dropout_p=0.3),
}


@pytest.mark.parametrize("name", sorted(SDPA))
def test_sdpa_gradcheck(name):
    opts = SDPA[name]
    kv_heads = 1 if opts.get("enable_gqa") else 2
    q, k, v = leaf(1, 2, 4, 3, seed=1), leaf(1, kv_heads, 5, 3, seed=2), leaf(1, kv_heads, 5, 2,
                                                                               seed=3)

    def f(q, k, v):
        torch.manual_seed(0)  # the same dropout mask at every evaluation
        return attn.scaled_dot_product_attention(q, k, v, **opts)

    assert torch.autograd.gradcheck(f, (q, k, v))


FLASH = {
    "causal": dict(causal=True),
    "window": dict(window_size=(1, 1)),
    "softcap": dict(softcap=1.5),
    "alibi": dict(alibi_slopes=torch.tensor([0.5, 0.25], dtype=torch.float64)),
    "alibi_bh_dropout": dict(alibi_slopes=torch.tensor([[0.5, 0.1], [0.3, 0.2]]),
                             dropout_p=0.2),
}


@pytest.mark.parametrize("name", sorted(FLASH))
def test_flash_attn_gradcheck(name):
    opts = FLASH[name]
    q, k, v = leaf(2, 3, 2, 4, seed=1), leaf(2, 5, 2, 4, seed=2), leaf(2, 5, 2, 3, seed=3)

    def f(q, k, v):
        torch.manual_seed(0)
        return attn.flash_attn_func(q, k, v, **opts)

    assert torch.autograd.gradcheck(f, (q, k, v))
