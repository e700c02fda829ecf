#!/usr/bin/env bash
# Developer build: compiles the extension modules into the source tree (pycx/_cpu*.so,
# pycx/_cuda*.so) so that `python -m pytest` from the repository root uses them.
# PYCX_CUDA=OFF|AUTO|ON as for the wheel (default OFF here: faster rebuilds).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
version=$($py -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])" 2>/dev/null || echo dev)
cmake -S . -B build/inplace -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$py")" \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" \
  -DSKBUILD_PROJECT_VERSION="$version" \
  -DPYCX_CUDA="${PYCX_CUDA:-OFF}" >/dev/null
cmake --build build/inplace -j "${JOBS:-2}"
cp build/inplace/_cpu*.so pycx/
if ls build/inplace/_cuda*.so >/dev/null 2>&1; then cp build/inplace/_cuda*.so pycx/; fi
