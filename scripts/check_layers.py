#!/usr/bin/env python3
"""Checks attn's floor plan (docs/DESIGN.md, "Layers"): every #include points down the layer order,
and every public header sits in the folder of its layer.

Exits 1 with one line per violation, 0 when the tree keeps the plan.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The layers, lowest first. A file of one layer may include headers of its own layer and of the
# layers listed before it in ALLOWED (its own set below), never one above.
ORDER = ["core", "viz", "ref", "kernels", "nn", "io", "infer", "model", "train", "dist", "apps",
         "tools", "python"]
ALLOWED = {
    "core": {"core"},
    "viz": {"core", "viz"},           # drawing needs nothing but core
    "ref": {"core", "ref"},
    "kernels": {"core", "kernels"},   # the kernels never see the reference or the layers
    "nn": {"core", "kernels", "nn"},
    "io": {"core", "nn", "io"},
    "infer": {"core", "kernels", "nn", "infer"},
}
for i, layer in enumerate(ORDER):  # the upper layers may use everything below them
    ALLOWED.setdefault(layer, set(ORDER[: i + 1]))

TOP_LEVEL_HEADERS = {"attn.h", "version.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]attn/([a-z_0-9]+)/[^">]+[">]', re.M)


def layer_of(path: pathlib.Path):
    parts = path.relative_to(ROOT).parts
    if parts[0] in ("src",) and len(parts) > 2:
        return parts[1]
    if parts[:2] == ("include", "attn") and len(parts) > 3:
        return parts[2]
    if parts[0] in ("apps", "tools", "python", "dist"):
        return parts[0]
    return None


def check_includes(errors):
    for folder in ("src", "include", "apps", "tools", "python"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".h", ".cc", ".cpp") or not path.is_file():
                continue
            layer = layer_of(path)
            if layer is None or layer not in ALLOWED:
                continue
            for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
                if target not in ALLOWED[layer]:
                    errors.append(f"{path.relative_to(ROOT)}: {layer}/ includes attn/{target}/, "
                                  f"which is not below it")


def check_library_stays_below_apps(errors):
    """Nothing of the library (src/, include/) includes the demo tasks or the tools."""
    for folder in ("src", "include"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".h", ".cc") or not path.is_file():
                continue
            for m in re.finditer(r'#\s*include\s+"((apps|tools)/[^"]+)"',
                                 path.read_text(encoding="utf-8")):
                errors.append(f"{path.relative_to(ROOT)}: the library includes \"{m.group(1)}\"")


def check_public_headers(errors):
    include_root = ROOT / "include" / "attn"
    for path in sorted(include_root.rglob("*.h")):
        rel = path.relative_to(include_root)
        if len(rel.parts) == 1:
            if rel.name not in TOP_LEVEL_HEADERS:
                errors.append(f"include/attn/{rel}: only {sorted(TOP_LEVEL_HEADERS)} sit at the "
                              f"top; a header belongs in its layer's folder")
            continue
        layer = rel.parts[0]
        if layer not in ORDER or len(rel.parts) != 2:
            errors.append(f"include/attn/{rel}: not in a layer folder (one of {ORDER})")
        elif not (ROOT / "src" / layer).is_dir():
            errors.append(f"include/attn/{rel}: layer {layer}/ has no src/{layer}/")
    # Private headers must not pose as public ones: nothing outside include/ is reached as "attn/...".
    for folder in ("src", "tools", "apps", "tests", "bench", "python"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".h", ".cc") or not path.is_file():
                continue
            for m in re.finditer(r'#\s*include\s+"(attn/[^"]+)"', path.read_text(encoding="utf-8")):
                if not (include_root.parent / m.group(1)).is_file():
                    errors.append(f"{path.relative_to(ROOT)}: includes \"{m.group(1)}\", which is "
                                  f"no public header under include/")


def main():
    errors = []
    check_includes(errors)
    check_library_stays_below_apps(errors)
    check_public_headers(errors)
    for e in errors:
        print(f"check_layers: {e}")
    if errors:
        print(f"check_layers: {len(errors)} violation(s) of the floor plan (docs/DESIGN.md)")
        return 1
    print("check_layers: every include points down the layer order; headers in their layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
