"""Heat maps of attention weights, written as PNG files by attn's renderer."""

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
