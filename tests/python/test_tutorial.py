"""The tutorial examples/python/attention_from_scratch.py runs, every check passing."""

import os
import pathlib
import subprocess
import sys

import attn

SCRIPT = (pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"
          / "attention_from_scratch.py")


def test_attention_from_scratch_runs(tmp_path):
    env = dict(os.environ)
    package_dir = str(pathlib.Path(attn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_dir, env.get("PYTHONPATH")]))
    out = tmp_path / "heads.png"
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "8. the weights of every head" in run.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"
