"""attention_weights against a float64 softmax; the heat-map writer."""

import numpy as np
import pytest
import torch

import attn
import attn.viz
from reference import attention, max_err


def test_weights_rows_and_head_mean():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 9, 16, generator=g), torch.randn(2, 3, 11, 16, generator=g)
    _, w = attention(q, k, k, causal=True, top_left=True)
    got = attn.attention_weights(q, k, is_causal=True)
    assert got.shape == (2, 3, 9, 11) and max_err(got, w) < 1e-6
    rows = attn.attention_weights(q.numpy(), k.numpy(), is_causal=True, rows=(2, 5))
    assert isinstance(rows, np.ndarray) and max_err(rows, w[:, :, 2:5]) < 1e-6
    mean = attn.attention_weights(q, k, is_causal=True, average_heads=True)
    assert mean.shape == (2, 1, 9, 11) and max_err(mean, w.mean(1, keepdim=True)) < 1e-6
    w64 = attn.attention_weights(q.double(), k.double(), is_causal=True, rows=(2, 5),
                                 average_heads=True)
    assert max_err(w64, w[:, :, 2:5].mean(1, keepdim=True)) < 1e-12


def test_heatmap_writes_a_png(tmp_path):
    w = attn.attention_weights(np.random.rand(4, 6).astype(np.float32),
                               np.random.rand(5, 6).astype(np.float32))
    path = attn.viz.heatmap(w, list("abcde"), ["q0", "q1", "q2", "q3"], tmp_path / "w.png",
                            title="weights")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = attn.viz.heatmap(np.random.rand(3, 4, 5), path=tmp_path / "g.png",
                            panel_titles=["h0", "h1", "h2"])
    assert grid.stat().st_size > 1000


def test_heatmap_errors():
    with pytest.raises(ValueError, match="x_labels"):
        attn.viz.heatmap(np.zeros((2, 3)), ["a"], None, "/tmp/never.png")
    with pytest.raises(ValueError, match="lo must be below hi"):
        attn.viz.heatmap(np.zeros((2, 3)), path="/tmp/never.png", lo=1, hi=0)
    with pytest.raises(RuntimeError):
        attn.viz.heatmap(np.zeros((2, 3)), path="/nonexistent/dir/w.png")


def _page_data(path):
    """The JSON data block of an explorer page."""
    import json
    import re

    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="attn-data">(.*?)</script>', text, re.S).group(1))


def test_explorer_writes_a_self_contained_page(tmp_path):
    w = attn.attention_weights(np.random.rand(2, 3, 5, 8).astype(np.float32),
                               np.random.rand(2, 3, 5, 8).astype(np.float32), is_causal=True)
    path = attn.viz.explorer(tmp_path / "e.html", w, list("hello"), title="Hello",
                             notes=["a note"], kind="gpt")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>Hello</title>" in html
    data = _page_data(path)
    m = data["maps"][0]
    assert (m["layers"], m["heads"], m["queries"], m["keys"]) == (2, 3, list("hello"),
                                                                  list("hello"))
    assert data["notes"] == ["a note"] and len(m["scales"]) == 6


def test_explorer_takes_single_heads_and_more_maps(tmp_path):
    path = attn.viz.explorer(tmp_path / "e.html", torch.full((2, 4), 0.25), ["a", "b"],
                             list("wxyz"), name="cross",
                             more_maps=[{"weights": np.eye(3), "tokens": list("abc"),
                                         "name": "self"}])
    maps = _page_data(path)["maps"]
    assert [(m["name"], m["layers"], m["heads"]) for m in maps] == [("cross", 1, 1),
                                                                    ("self", 1, 1)]
    assert maps[0]["keys"] == list("wxyz")


def test_explorer_errors(tmp_path):
    path = tmp_path / "never.html"
    with pytest.raises(ValueError, match="3 tokens for 2 query rows"):
        attn.viz.explorer(path, np.zeros((2, 2)), list("abc"))
    with pytest.raises(ValueError, match="expected \\[queries, keys\\]"):
        attn.viz.explorer(path, np.zeros(3), list("abc"))
    with pytest.raises(ValueError, match="unknown keys"):
        attn.viz.explorer(path, np.zeros((1, 1)), ["a"], more_maps=[
            {"weights": np.zeros((1, 1)), "tokens": ["a"], "colour": "red"}])
    with pytest.raises(RuntimeError, match="no query tokens"):
        attn.viz.explorer(path, np.zeros((0, 2)), [], ["a", "b"])
    assert not path.exists()
