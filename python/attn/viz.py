"""Pictures of attention weights: heat maps as PNG files (heatmap), and the attention explorer,
one self-contained HTML page to explore a model's attention over a text (explorer)."""

import numpy as np

from . import _arrays, _attn


def heatmap(weights, x_labels=None, y_labels=None, path="attention.png", title="",
            x_axis_label="key", y_axis_label="query", lo=0.0, hi=1.0, panel_titles=None,
            grid_cols=0):
    """Draws weights [rows, cols] (query rows, key columns), or [panels, rows, cols] as a grid
    of panels sharing one colour bar (e.g. one per head), to the PNG file `path`.

    x_labels label the columns (keys), y_labels the rows (queries); None numbers them. Values
    are coloured from lo to hi (viridis); NaN is grey. Returns the path.
    """
    w = _arrays.as_numpy(weights, "weights")
    if w.ndim not in (2, 3):
        raise ValueError(f"weights: expected [rows, cols] or [panels, rows, cols], got shape "
                         f"{w.shape}")
    if not lo < hi:
        raise ValueError(f"heatmap: lo must be below hi, got lo={lo}, hi={hi}")
    rows, cols = w.shape[-2:]
    x_labels = [str(s) for s in (x_labels if x_labels is not None else [])]
    y_labels = [str(s) for s in (y_labels if y_labels is not None else [])]
    if x_labels and len(x_labels) != cols:
        raise ValueError(f"x_labels: {len(x_labels)} labels for {cols} columns")
    if y_labels and len(y_labels) != rows:
        raise ValueError(f"y_labels: {len(y_labels)} labels for {rows} rows")
    values = np.ascontiguousarray(w, dtype=np.float32)  # a picture: small
    _attn.heatmap(values, str(path), y_labels, x_labels, str(title), y_axis_label,
                  x_axis_label, float(lo), float(hi), list(panel_titles or []), int(grid_cols))
    return path


def _page_map(weights, tokens, key_tokens, name, query_axis, key_axis):
    """The (name, queries, keys, axes, weights [layers, heads, queries, keys]) of one map."""
    w = _arrays.as_numpy(weights, f"weights of '{name}'")
    if w.ndim not in (2, 3, 4):
        raise ValueError(f"weights of '{name}': expected [queries, keys], [heads, queries, keys] "
                         f"or [layers, heads, queries, keys], got shape {w.shape}")
    w = np.ascontiguousarray(w.reshape((1,) * (4 - w.ndim) + w.shape), dtype=np.float32)
    queries = [str(t) for t in tokens]
    keys = queries if key_tokens is None else [str(t) for t in key_tokens]
    if len(queries) != w.shape[2]:
        raise ValueError(f"tokens of '{name}': {len(queries)} tokens for {w.shape[2]} query rows")
    if len(keys) != w.shape[3]:
        raise ValueError(f"key_tokens of '{name}': {len(keys)} tokens for {w.shape[3]} key "
                         f"columns")
    return (str(name), queries, keys, str(query_axis), str(key_axis), w)


def explorer(path, weights, tokens, key_tokens=None, *, title="", name="attention",
             query_axis="query", key_axis="key", notes=(), kind="", more_maps=()):
    """Writes the attention explorer, one self-contained HTML page, to `path` (atomically: on
    any error nothing is written). Returns the path.

    weights: [layers, heads, queries, keys] (or [heads, queries, keys], or [queries, keys]), each
    row a distribution over the keys; tokens label the queries, key_tokens the keys (None: the
    same tokens, as in self-attention). more_maps: further attentions shown on the same page,
    each a dict with the keys weights, tokens and optionally key_tokens, name, query_axis and
    key_axis. Weights are stored with 8 bits (within max/510 of each value).
    """
    maps = [_page_map(weights, tokens, key_tokens, name, query_axis, key_axis)]
    for extra in more_maps:
        extra = dict(extra)
        maps.append(_page_map(extra.pop("weights"), extra.pop("tokens"),
                              extra.pop("key_tokens", None), extra.pop("name", "attention"),
                              extra.pop("query_axis", "query"), extra.pop("key_axis", "key")))
        if extra:
            raise ValueError(f"more_maps: unknown keys {sorted(extra)}")
    _attn.attention_page(str(path), str(title), str(kind), [str(n) for n in notes], maps)
    return path
