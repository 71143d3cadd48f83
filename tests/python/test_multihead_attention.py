"""attn.torch.MultiheadAttention against torch.nn.MultiheadAttention: same weights → same
outputs, weights and gradients; state_dicts load both ways; 30 training steps, same losses."""

import pytest
import torch

import attn.torch as attn_torch

CONFIGS = {
    "self_batch_first": dict(embed_dim=16, num_heads=4, batch_first=True),
    "seq_first": dict(embed_dim=16, num_heads=2),
    "kdim_vdim": dict(embed_dim=16, num_heads=4, kdim=12, vdim=10, batch_first=True),
    "bias_kv_zero_attn": dict(embed_dim=16, num_heads=4, add_bias_kv=True, add_zero_attn=True),
    "no_bias": dict(embed_dim=16, num_heads=4, bias=False, batch_first=True),
}


def pair(config):
    torch.manual_seed(0)
    ours = attn_torch.MultiheadAttention(**config)
    theirs = torch.nn.MultiheadAttention(**config)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def inputs(config, batch=3, length=5, source=7):
    g = torch.Generator().manual_seed(1)
    e = config["embed_dim"]
    first = config.get("batch_first", False)

    def x(n, d):
        shape = (batch, n, d) if first else (n, batch, d)
        return torch.randn(*shape, generator=g, requires_grad=True)

    if "kdim" in config:
        return x(length, e), x(source, config["kdim"]), x(source, config["vdim"])
    q = x(length, e)
    return q, q, q


def masks(kind, batch=3, length=5, source=5, heads=4):
    g = torch.Generator().manual_seed(2)
    if kind == "bool_attn_mask":
        m = torch.rand(length, source, generator=g) > 0.7
        m[:, 0] = False  # no row wholly masked (PyTorch gives NaN there)
        return dict(attn_mask=m)
    if kind == "float_attn_mask_3d":
        return dict(attn_mask=torch.randn(batch * heads, length, source, generator=g))
    if kind == "key_padding":
        kpm = torch.zeros(batch, source, dtype=torch.bool)
        kpm[0, -2:] = True
        kpm[2, -1] = True
        return dict(key_padding_mask=kpm)
    if kind == "both":
        return dict(masks("bool_attn_mask"), **masks("key_padding"))
    return {}


def compare(ours, theirs, args, kwargs, weights=True):
    a, wa = ours(*args, **kwargs)
    b, wb = theirs(*args, **kwargs)
    assert a.shape == b.shape
    assert (a - b).abs().max() < 1e-5
    if weights and wb is not None:
        assert wa.shape == wb.shape
        assert (wa - wb).abs().max() < 1e-5
    g = torch.randn(a.shape)
    leaves = [p for p in ours.parameters()] + [x for x in args if x.requires_grad]
    grads_a = torch.autograd.grad(a, leaves, g, retain_graph=True, allow_unused=True)
    leaves_b = [p for p in theirs.parameters()] + [x for x in args if x.requires_grad]
    grads_b = torch.autograd.grad(b, leaves_b, g, retain_graph=True, allow_unused=True)
    for ga, gb in zip(grads_a, grads_b):
        if gb is None:
            continue
        assert (ga - gb).abs().max() < 1e-4


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_outputs_weights_and_gradients(name):
    ours, theirs = pair(CONFIGS[name])
    compare(ours, theirs, inputs(CONFIGS[name]), {})


@pytest.mark.parametrize("mask", ["bool_attn_mask", "float_attn_mask_3d", "key_padding", "both"])
@pytest.mark.parametrize("average", [True, False])
def test_masks_and_weights(mask, average):
    config = CONFIGS["self_batch_first"]
    ours, theirs = pair(config)
    kwargs = dict(masks(mask), average_attn_weights=average)
    compare(ours, theirs, inputs(config), kwargs)


def test_is_causal_matches_a_causal_mask():
    config = CONFIGS["self_batch_first"]
    ours, theirs = pair(config)
    args = inputs(config)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    a, _ = ours(*args, is_causal=True, need_weights=False)
    b, _ = theirs(*args, attn_mask=causal, need_weights=False)
    assert (a - b).abs().max() < 1e-5


def test_unbatched_input():
    ours, theirs = pair(CONFIGS["seq_first"])
    x = torch.randn(6, 16)
    a, wa = ours(x, x, x)
    b, wb = theirs(x, x, x)
    assert a.shape == b.shape == (6, 16) and wa.shape == wb.shape
    assert (a - b).abs().max() < 1e-5


def test_state_dict_loads_both_ways():
    ours, theirs = pair(CONFIGS["kdim_vdim"])
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    back = attn_torch.MultiheadAttention(**CONFIGS["kdim_vdim"])
    back.load_state_dict(theirs.state_dict())
    for name, p in back.state_dict().items():
        assert torch.equal(p, theirs.state_dict()[name])


class TinyModel(torch.nn.Module):
    """Embedding → causal self-attention block → logits."""

    def __init__(self, attention_cls, vocab=32, dim=32, heads=4):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, dim)
        self.attn = attention_cls(dim, heads, batch_first=True)
        self.norm = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, vocab)

    def forward(self, ids):
        x = self.emb(ids)
        length = ids.shape[1]
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        y, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        return self.head(self.norm(x + y))


def train(attention_cls, state=None, steps=30):
    torch.manual_seed(0)
    model = TinyModel(attention_cls)
    if state is not None:
        model.load_state_dict(state)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = torch.randint(0, 32, (4, 17), generator=torch.Generator().manual_seed(3))
    losses = []
    for _ in range(steps):
        logits = model(data[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 32), data[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


def test_training_30_steps_gives_the_same_losses():
    torch.manual_seed(0)
    start = TinyModel(attn_torch.MultiheadAttention).state_dict()
    ours, _ = train(attn_torch.MultiheadAttention, start)
    theirs, _ = train(torch.nn.MultiheadAttention, start)
    assert ours[-1] < ours[0] * 0.7  # it learns
    for a, b in zip(ours, theirs):
        assert abs(a - b) < 1e-4


def test_dropout_in_training_only():
    config = dict(CONFIGS["self_batch_first"], dropout=0.5)
    ours, theirs = pair(config)
    args = inputs(config)
    ours.eval()
    theirs.eval()
    a, _ = ours(*args, need_weights=False)
    b, _ = theirs(*args, need_weights=False)
    assert (a - b).abs().max() < 1e-5
    ours.train()
    c, w = ours(*args)
    assert not torch.allclose(c, a)
    assert torch.isfinite(c).all() and torch.isfinite(w).all()
