#!/usr/bin/env python3
"""Converts test/fixtures/{imdb,amazon,yelp}.json of the npm package `sentiment` 5.0.2 into the
TSV files of this folder: one sentence per line, "LABEL<TAB>SENTENCE", LABEL 1 positive, 0 negative.

Usage: convert.py FIXTURES_DIR OUT_DIR
"""
import json
import sys

# C1 control characters in imdb.json: Windows-1252 punctuation decoded as Latin-1.
CP1252 = {"\u0085": "\u2026", "\u0096": "\u2013", "\u0097": "\u2014"}


def convert(src, dst):
    rows = json.load(open(src, encoding="utf-8"))
    with open(dst, "w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            if row["class"] is None:  # the files end with an empty record
                continue
            text = "".join(CP1252.get(c, c) for c in row["text"])
            text = " ".join(text.split())
            assert row["class"] in (0, 1) and text
            out.write(f"{row['class']}\t{text}\n")


if __name__ == "__main__":
    for name in ("imdb", "amazon", "yelp"):
        convert(f"{sys.argv[1]}/{name}.json", f"{sys.argv[2]}/{name}.tsv")
