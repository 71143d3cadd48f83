"""The data of an attention explorer page, read back from its HTML without a browser: what the
tests compare the page's drawing against."""

import base64
import json
import re

import numpy as np

DATA = re.compile(r'<script type="application/json" id="attn-data">(.*?)</script>', re.S)


def read_page(path):
    """The page's JSON with each map's weights decoded: map["weights"] [layers, heads, queries,
    keys] float64, the stored value of every weight, and map["step"] [layers, heads], half the
    quantisation step (the largest distance of a stored weight from the weight it stands for)."""
    with open(path, encoding="utf-8") as f:
        html = f.read()
    found = DATA.findall(html)
    assert len(found) == 1, "the page must hold exactly one data block"
    data = json.loads(found[0])
    for m in data["maps"]:
        shape = (m["layers"], m["heads"], len(m["queries"]), len(m["keys"]))
        codes = np.frombuffer(base64.b64decode(m["codes"]), dtype=np.uint8)
        assert codes.size == np.prod(shape), f"map {m['name']}: {codes.size} codes for {shape}"
        scales = np.asarray(m["scales"], dtype=np.float64).reshape(shape[:2])
        m["weights"] = codes.reshape(shape) / 255.0 * scales[:, :, None, None]
        m["step"] = scales / 510.0
    return data
