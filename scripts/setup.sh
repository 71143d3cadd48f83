#!/usr/bin/env bash
# Installs the Debian packages attn needs to build and test; installs only what is missing.
# Idempotent: a second run finds everything present and does nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhwy-dev libomp-dev
  libopenblas-openmp-dev libdnnl-dev libcli11-dev nlohmann-json3-dev libpng-dev
  libfreetype-dev fonts-dejavu-core openmpi-bin libopenmpi-dev
  python3-dev python3-venv python3-pip pybind11-dev python3-numpy python3-torch python3-pytest
  chromium  # the browser of the attention explorer's tests (make test-browser)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
