"""The pages of `attn viz gpt|classify|seq2seq --html` in a real browser: each opens without a
console error, holds the maps of its model, draws the weights stored in it, and looks right in
a screenshot."""

import pathlib
import subprocess

import pytest

from page_data import read_page

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(cli, *args, cwd):
    r = subprocess.run([str(cli), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                       env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def models(attn_cli, tmp_path_factory):
    """A few training steps of each model on tiny data: a GPT, a classifier, a seq2seq model."""
    d = tmp_path_factory.mktemp("models")
    run(attn_cli, "train", "--preset", "tiny", "--steps", "2", "--out", "gpt.safetensors", cwd=d)
    (d / "sentiment").mkdir()
    for source in ("imdb", "amazon", "yelp"):
        lines = [f"1\tA good {source} thing, {i} times great!\n0\tA bad {source} thing, {i} "
                 f"times awful.\n" for i in range(6)]
        (d / "sentiment" / f"{source}.tsv").write_text("".join(lines))
    run(attn_cli, "classify", "train", "--steps", "2", "--data", "sentiment", "--out",
        "cls.safetensors", cwd=d)
    (d / "g2p").mkdir()
    with open(ROOT / "data/cmudict/cmudict.txt", encoding="utf-8") as f:
        (d / "g2p" / "cmudict.txt").write_text("".join(f.readlines()[:300]))
    run(attn_cli, "seq2seq", "train", "--steps", "2", "--data", "g2p", "--out", "s2s.safetensors",
        cwd=d)
    return d


def check_page(open_page, path, names):
    """Opens the page; checks its maps, and the lines of the first map's query 1 in layer 0."""
    data = read_page(path)
    assert [m["name"] for m in data["maps"]] == names
    page = open_page(path)
    page.mouse_move(*page.center_of('#head-svg g[data-side="query"][data-index="1"] text'))
    drawn = page.evaluate("attnExplorer.lines()")
    m = data["maps"][0]
    assert {line["head"] for line in drawn} == set(range(m["heads"]))
    for line in drawn:
        assert line["query"] == 1
        want = m["weights"][0, line["head"], 1, line["key"]]
        assert abs(line["weight"] - want) < 1e-5
    return data, page


def test_gpt_page(attn_cli, models, open_page, tmp_path):
    run(attn_cli, "viz", "gpt", "--model", models / "gpt.safetensors", "--prompt",
        "Call me Ishmael.", "--html", tmp_path / "gpt.html", cwd=tmp_path)
    data, page = check_page(open_page, tmp_path / "gpt.html", ["self-attention"])
    m = data["maps"][0]
    assert m["queries"] == list("Call me Ishmael.") and m["layers"] >= 1
    assert (m["weights"][:, :, 1, 2:] == 0).all()  # causal: query 1 sees keys 0 and 1 only
    page.screenshot(tmp_path / "gpt.png")
    assert (tmp_path / "gpt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classifier_page_shows_the_pooling_beside_the_self_attention(attn_cli, models, open_page,
                                                                     tmp_path):
    run(attn_cli, "viz", "classify", "--model", models / "cls.safetensors", "--text",
        "A great movie", "--html", tmp_path / "c.html", cwd=tmp_path)
    data = read_page(tmp_path / "c.html")
    pooling, attention = data["maps"]
    assert pooling["name"] == "pooling" and pooling["keys"] == ["a", "great", "movie"]
    assert abs(pooling["weights"].sum() - 1) < 3 * pooling["step"].max() + 1e-6
    assert attention["name"] == "self-attention" and attention["queries"] == pooling["keys"]
    page = open_page(tmp_path / "c.html")
    page.evaluate("attnExplorer.setView('model')")
    assert page.evaluate("document.querySelectorAll('#grids section').length") == 2


def test_seq2seq_page_shows_the_cross_attention_and_both_self_attentions(attn_cli, models,
                                                                          open_page, tmp_path):
    run(attn_cli, "viz", "seq2seq", "--model", models / "s2s.safetensors", "--word", "cat",
        "--html", tmp_path / "s.html", cwd=tmp_path)
    data, page = check_page(open_page, tmp_path / "s.html",
                            ["cross-attention", "decoder self-attention",
                             "encoder self-attention"])
    cross, decoder, encoder = data["maps"]
    assert cross["keys"] == list("cat") and cross["queries"][-1] == "end"
    assert decoder["keys"][0] == "<s>" and len(decoder["keys"]) == len(cross["queries"])
    assert encoder["queries"] == list("cat")
    page.evaluate("attnExplorer.setView('model')")
    assert page.evaluate("document.querySelectorAll('#grids section').length") == 3
