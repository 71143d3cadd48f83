"""The PEP 517 backend of pyproject.toml: CMake builds the module, this file zips the wheel.

Offline and with nothing beyond the standard library and CMake:
    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index .
The wheel holds attn/ (the Python files, the module and libattn under its soname, found through
the module's run path $ORIGIN). The CMake build lives in build/wheel and is reused.
"""

import base64
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAME = "attn"
SUMMARY = "LLM attention kernels on the CPU, for NumPy and PyTorch"


def _version():
    text = (ROOT / "include" / "attn" / "version.h").read_text()
    return re.search(r'ATTN_VERSION_STRING "([^"]+)"', text).group(1)


def _tag():
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{platform}"


def _dist_info():
    return f"{NAME}-{_version()}.dist-info"


def _metadata_files():
    """{name: bytes} of the .dist-info folder, RECORD aside."""
    metadata = (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
                f"Summary: {SUMMARY}\nRequires-Python: >=3.9\nRequires-Dist: numpy\n")
    wheel = (f"Wheel-Version: 1.0\nGenerator: attn build_backend\nRoot-Is-Purelib: false\n"
             f"Tag: {_tag()}\n")
    return {"METADATA": metadata.encode(), "WHEEL": wheel.encode()}


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = pathlib.Path(metadata_directory) / _dist_info()
    target.mkdir(parents=True, exist_ok=True)
    for name, data in _metadata_files().items():
        (target / name).write_bytes(data)
    return _dist_info()


def _run(*command):
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def _build(stage):
    """Configures and builds the module in build/wheel, installs its component into stage."""
    build = ROOT / "build" / "wheel"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run("cmake", "-S", str(ROOT), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
         "-DATTN_BUILD_TESTS=OFF", "-DATTN_BUILD_TOOLS=OFF", "-DATTN_BUILD_PYTHON=ON",
         f"-DPython3_EXECUTABLE={sys.executable}")
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    _run("cmake", "--build", str(build), "--target", "_attn", "-j", jobs)
    _run("cmake", "--install", str(build), "--component", "python", "--prefix", str(stage))
    if not any((stage / NAME).glob("_attn*.so")):
        raise RuntimeError("the build made no attn._attn module: are pybind11-dev and "
                           "python3-dev installed (scripts/setup.sh)?")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_name = f"{NAME}-{_version()}-{_tag()}.whl"
    with tempfile.TemporaryDirectory() as tmp:
        stage = pathlib.Path(tmp)
        _build(stage)
        files = {str(p.relative_to(stage)): p.read_bytes()
                 for p in sorted(stage.rglob("*")) if p.is_file()}
        files.update({f"{_dist_info()}/{n}": d for n, d in _metadata_files().items()})
        record = "".join(_record_line(n, d) for n, d in files.items())
        record += f"{_dist_info()}/RECORD,,\n"
        path = pathlib.Path(wheel_directory) / wheel_name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name.endswith(".so") or ".so." in name
                                      else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                wheel.writestr(info, data)
            wheel.writestr(f"{_dist_info()}/RECORD", record)
    return wheel_name
