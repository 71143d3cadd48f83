"""The attention explorer in a real browser, on pages of known weights written by attn.viz:
what it draws for the token under the pointer, the layer and head controls, the keys, the model
view's heat maps, and pages of 1 and 256 tokens."""

import numpy as np

import attn.viz
from page_data import read_page


def softmax_rows(shape, seed, causal=False, sharpness=3.0):
    """Random attention weights [..., Q, K]: rows summing to 1, causal if asked."""
    scores = np.random.default_rng(seed).normal(size=shape) * sharpness
    if causal:
        q, k = shape[-2:]
        scores = np.where(np.tril(np.ones((q, k), bool)), scores, -np.inf)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    return (w / w.sum(-1, keepdims=True)).astype(np.float32)


def query_cell(index, side="query"):
    return f'#head-svg g[data-side="{side}"][data-index="{index}"] text'


def expected_lines(weights, layer, heads, side, token):
    """The lines the head view must draw: (head, query, key) → stored weight, for every non-zero
    stored weight of the selected token."""
    lines = {}
    for h in heads:
        block = weights[layer, h]
        pairs = [(token, k) for k in range(block.shape[1])] if side == "query" else \
            [(q, token) for q in range(block.shape[0])]
        for q, k in pairs:
            if block[q, k] > 0:
                lines[(h, q, k)] = block[q, k]
    return lines


def check_drawn_lines(page, data, layer, heads, side, token, original=None):
    m = data["maps"][0]
    drawn = {(l["head"], l["query"], l["key"]): l for l in page.evaluate("attnExplorer.lines()")}
    want = expected_lines(m["weights"], layer, heads, side, token)
    assert set(drawn) == set(want)
    for key, line in drawn.items():
        assert abs(line["weight"] - want[key]) < 1e-5, key  # the weight stored in the file
        assert abs(line["opacity"] - min(1.0, want[key])) < 1e-3, key  # strength = weight
        if original is not None:  # and within half a quantisation step of the model's weight
            h, q, k = key
            assert abs(line["weight"] - original[layer, h, q, k]) <= m["step"][layer, h] + 1e-6


def test_hovering_a_token_draws_its_weights_of_every_head(tmp_path, open_page):
    w = softmax_rows((2, 3, 7, 7), seed=1, causal=True)
    tokens = ["The", " cat", " sat", " on", " the", " mat", "."]
    path = attn.viz.explorer(tmp_path / "p.html", w, tokens, title="Seven tokens")
    data = read_page(path)
    page = open_page(path)
    assert page.evaluate("document.title") == "Seven tokens"
    page.mouse_move(*page.center_of(query_cell(4)))
    state = page.evaluate("attnExplorer.state()")
    assert (state["side"], state["token"], state["layer"], state["heads"]) == \
        ("query", 4, 0, [0, 1, 2])
    check_drawn_lines(page, data, 0, [0, 1, 2], "query", 4, original=w)
    assert "strongest key" in page.evaluate("document.getElementById('head-readout').textContent")
    # Each key is shaded by its largest weight over the shown heads.
    shades = page.evaluate("""Array.from(document.querySelectorAll(
        '#head-svg g[data-side="key"] rect'), (r) => r.style.fill)""")
    top = data["maps"][0]["weights"][0, :, 4, :].max(axis=0)
    for k, fill in enumerate(shades):
        alpha = float(fill.rsplit(",", 1)[1].rstrip(")")) if fill.startswith("rgba") else 0.0
        assert abs(alpha - 0.18 * top[k]) < 2e-3, (k, fill)


def test_layer_and_head_controls_change_the_lines(tmp_path, open_page):
    w = softmax_rows((3, 4, 6, 6), seed=2)
    path = attn.viz.explorer(tmp_path / "p.html", w, [f"t{i}" for i in range(6)])
    data = read_page(path)
    page = open_page(path)
    page.mouse_move(*page.center_of(query_cell(2)))
    page.evaluate("""(() => { const s = document.getElementById('layer-select');
        s.value = '2'; s.dispatchEvent(new Event('change')); })()""")
    page.click(*page.center_of('#head-list input[value="1"]'))  # hides head 1
    page.click(*page.center_of('#head-list input[value="3"]'))  # and head 3
    state = page.evaluate("attnExplorer.state()")
    assert state["layer"] == 2 and state["heads"] == [0, 2]
    check_drawn_lines(page, data, 2, [0, 2], "query", 2, original=w)
    page.click(*page.center_of('#head-list input[value="3"]'))
    check_drawn_lines(page, data, 2, [0, 2, 3], "query", 2)


def test_arrow_keys_move_the_selected_token(tmp_path, open_page):
    w = softmax_rows((1, 2, 5, 5), seed=3, causal=True)
    path = attn.viz.explorer(tmp_path / "p.html", w, list("abcde"))
    data = read_page(path)
    page = open_page(path)
    page.evaluate("document.getElementById('head-scroll').focus()")
    for key in ("ArrowDown", "ArrowDown", "ArrowDown", "ArrowUp"):
        page.press(key)
    assert page.evaluate("attnExplorer.state().token") == 2
    page.press("ArrowRight")  # to the keys: the lines of every query to key 2
    state = page.evaluate("attnExplorer.state()")
    assert (state["side"], state["token"]) == ("key", 2)
    check_drawn_lines(page, data, 0, [0, 1], "key", 2, original=w)
    page.press("End")
    assert page.evaluate("attnExplorer.state().token") == 4


def test_model_view_shows_every_layer_and_head_and_opens_one_large(tmp_path, open_page):
    w = softmax_rows((2, 3, 8, 8), seed=4, causal=True)
    path = attn.viz.explorer(tmp_path / "p.html", w, [f"w{i}" for i in range(8)])
    data = read_page(path)
    page = open_page(path)
    page.click(*page.center_of("#tab-model"))
    assert page.evaluate("document.getElementById('model-view').hidden") is False
    assert page.evaluate("document.querySelectorAll('#grids .thumb').length") == 6
    # A thumbnail's pixels are the viridis colours of its weights: the brightest is the largest.
    pixel = page.evaluate("""(() => {
        const c = document.querySelector('.thumb[data-layer="1"][data-head="2"] canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); })()""")
    green = np.asarray(pixel).reshape(8, 8, 4)[:, :, 1]
    top = data["maps"][0]["weights"][1, 2]
    brightest = np.unravel_index(green.argmax(), green.shape)
    assert brightest == np.unravel_index(top.argmax(), top.shape)
    page.click(*page.center_of('.thumb[data-layer="1"][data-head="2"]'))
    assert page.evaluate("document.getElementById('detail').open") is True
    d = page.evaluate("attnExplorer.detail()")
    rect = page.evaluate("""(() => { const r = document.getElementById('detail-canvas')
        .getBoundingClientRect(); return [r.left, r.top]; })()""")
    # The pointer over the cell (query 5, key 3): the readout gives its weight.
    page.mouse_move(rect[0] + d["left"] + 3.5 * d["cell"], rect[1] + d["top"] + 5.5 * d["cell"])
    text = page.evaluate("document.getElementById('detail-readout').textContent")
    assert text.startswith('query 5 "w5"') and 'key 3 "w3"' in text
    assert abs(float(text.rsplit("weight ", 1)[1]) - top[5, 3]) < 6e-5
    page.press("ArrowRight")
    assert page.evaluate("attnExplorer.detail().k") == 4
    page.press("Escape")
    assert page.evaluate("document.getElementById('detail').open") is False


def test_one_token_page_works(tmp_path, open_page):
    path = attn.viz.explorer(tmp_path / "p.html", np.ones((1, 1, 1, 1), np.float32), ["only"])
    page = open_page(path)
    page.mouse_move(*page.center_of(query_cell(0)))
    assert page.evaluate("attnExplorer.lines()") == [
        {"head": 0, "query": 0, "key": 0, "weight": 1, "opacity": 1}]
    page.press("ArrowDown")  # nowhere to go
    page.evaluate("attnExplorer.setView('model')")
    assert page.evaluate("document.querySelectorAll('.thumb').length") == 1


def test_256_token_page_scrolls_and_keeps_its_labels_readable(tmp_path, open_page):
    w = softmax_rows((1, 2, 256, 256), seed=5, causal=True)
    path = attn.viz.explorer(tmp_path / "p.html", w, [f"tok{i}" for i in range(256)])
    data = read_page(path)
    page = open_page(path)
    box = page.evaluate("""(() => { const e = document.getElementById('head-scroll');
        return [e.scrollHeight, e.clientHeight,
                Number(document.getElementById('head-svg').getAttribute('font-size'))]; })()""")
    assert box[0] > box[1] and box[2] >= 10  # scrolls, and the labels stay at least 10 px
    page.mouse_move(*page.center_of(query_cell(200)))
    check_drawn_lines(page, data, 0, [0, 1], "query", 200)
    page.evaluate("document.getElementById('head-scroll').focus()")
    page.press("ArrowDown")
    visible = page.evaluate(f"""(() => {{
        const s = document.getElementById('head-scroll').getBoundingClientRect();
        const r = document.querySelector('{query_cell(201)}').getBoundingClientRect();
        return r.top >= s.top && r.bottom <= s.bottom; }})()""")
    assert visible  # the selected token is scrolled into view


def test_pages_with_several_maps_switch_between_them(tmp_path, open_page):
    cross = softmax_rows((2, 2, 4, 3), seed=6)
    self_ = softmax_rows((1, 2, 3, 3), seed=7)
    path = attn.viz.explorer(tmp_path / "p.html", cross, ["K", "AE", "T", "end"], list("cat"),
                             name="cross-attention", query_axis="phoneme", key_axis="letter",
                             more_maps=[{"weights": self_, "tokens": list("cat"),
                                         "name": "encoder self-attention"}])
    data = read_page(path)
    page = open_page(path)
    assert page.evaluate("document.getElementById('map-label').hidden") is False
    page.evaluate("""(() => { const s = document.getElementById('map-select');
        s.value = '1'; s.dispatchEvent(new Event('change')); })()""")
    page.mouse_move(*page.center_of(query_cell(1)))
    state = page.evaluate("attnExplorer.state()")
    assert (state["map"], state["layer"], state["token"]) == (1, 0, 1)
    drawn = page.evaluate("attnExplorer.lines()")
    assert len(drawn) == 6
    for line in drawn:
        want = data["maps"][1]["weights"][0, line["head"], line["query"], line["key"]]
        assert abs(line["weight"] - want) < 1e-5
    page.evaluate("attnExplorer.setView('model')")
    assert page.evaluate("document.querySelectorAll('#grids .thumb').length") == 4 + 2
