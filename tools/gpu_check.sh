#!/usr/bin/env bash
# One command for a GPU machine: build pycx with CUDA, check the device, run every CUDA test
# and the quick GPU benchmark, and write the logs and the JSON under OUTDIR.
#
#   tools/gpu_check.sh OUTDIR [--build-only] [--no-memcheck]
#
# Steps (each logged, timed and capped; the whole run is designed to end within 8 minutes on
# one H100/H200 with 16 cores):
#   1. preflight: nvidia-smi must list a GPU, and the driver must support the CUDA version of
#      nvcc (CUDA 13 needs an R580+ driver). Otherwise it stops here, loudly, before building.
#   2. build: the in-place CMake build (no build isolation, no downloads: the machine's own
#      python, pybind11, cmake, ninja and nvcc) with PYCX_CUDA=ON and PYCX_CUDA_ARCHS=90-real
#      (override with the PYCX_CUDA_ARCHS environment variable), into build/gpu-check; the
#      modules are then copied into pycx/ as tools/build_inplace.sh does.
#   3. build_info: pycx.build_info() must say the CUDA module is built for those architectures
#      and a GPU is usable, with a driver at least as new as the runtime.
#   4. tests: PYCX_EXPECT_GPU=1 CUDA_LAUNCH_BLOCKING=1 pytest tests/test_cuda.py (with
#      PYCX_EXPECT_GPU=1 no GPU test may skip: a skip fails; see tests/conftest.py).
#   5. bench: benchmarks/gpu_bench.py --quick --json OUTDIR/gpu_bench.json.
#   6. memcheck: compute-sanitizer memcheck over a few small device tests (torch's caching
#      allocator off, so every buffer is its own allocation), in what is left of the 480 s
#      budget (PYCX_GPU_CHECK_BUDGET), at most 150 s; skipped with --no-memcheck.
#
# --build-only (for a machine without a GPU): runs step 2 only, without touching pycx/, and
# loads the built CUDA module from the build folder to check that it imports and exports its
# functions. OUTDIR then holds build.log and summary.json.
#
# Files in OUTDIR (8 at most): preflight.txt, build.log, tests.log, tests.xml, bench.log,
# gpu_bench.json, memcheck.log, summary.json (per step: status, seconds; the test counts).
# Exit status: 0 when every step that ran passed, 1 otherwise, 2 on bad usage.
set -uo pipefail

usage() { echo "usage: $0 OUTDIR [--build-only] [--no-memcheck]" >&2; exit 2; }
[ $# -ge 1 ] || usage
OUTDIR=$1
shift
BUILD_ONLY=0
MEMCHECK=1
for arg in "$@"; do
  case "$arg" in
    --build-only) BUILD_ONLY=1 ;;
    --no-memcheck) MEMCHECK=0 ;;
    *) usage ;;
  esac
done
case "$OUTDIR" in -*) usage ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUTDIR" || exit 1
OUTDIR=$(cd "$OUTDIR" && pwd)
cd "$ROOT" || exit 1
PY=${PYTHON:-python3}
ARCHS=${PYCX_CUDA_ARCHS:-90-real}
BUILD_DIR=${PYCX_GPU_CHECK_BUILD_DIR:-build/gpu-check}
BUDGET=${PYCX_GPU_CHECK_BUDGET:-480}  # seconds the whole check is designed to take
export PYTHONUNBUFFERED=1
T0=$(date +%s)
STEPS_JSON=""
FAILED=0

say() { echo "gpu_check [$(( $(date +%s) - T0 ))s] $*"; }
die() {  # a failure that makes every later step pointless
  echo "gpu_check: FAILED: $*" >&2
  record "$CURRENT" failed "$STEP_T0" "$*"
  write_summary
  exit 1
}
json_str() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
record() {  # record NAME STATUS START_SECONDS [NOTE]
  local note=${4:-}
  STEPS_JSON="${STEPS_JSON:+$STEPS_JSON, }{\"step\": \"$1\", \"status\": \"$2\", \"seconds\": $(( $(date +%s) - $3 )), \"note\": $(json_str "$note")}"
  [ "$2" = failed ] && FAILED=1
  say "$1: $2${note:+ ($note)}"
}
begin() { CURRENT=$1; STEP_T0=$(date +%s); say "$1 ..."; }
write_summary() {
  local counts=null
  if [ -f "$OUTDIR/tests.xml" ]; then
    counts=$("$PY" - "$OUTDIR/tests.xml" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
keys = ("tests", "failures", "errors", "skipped")
total = {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}
total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
total["seconds"] = round(sum(float(s.get("time", 0)) for s in suites), 1)
print(json.dumps(total))
EOF
) || counts=null
  fi
  local ok=true
  [ "$FAILED" = 0 ] || ok=false
  cat > "$OUTDIR/summary.json.tmp" <<EOF
{"ok": $ok, "build_only": $([ $BUILD_ONLY = 1 ] && echo true || echo false), "architectures": $(json_str "$ARCHS"),
 "total_seconds": $(( $(date +%s) - T0 )), "tests": $counts,
 "steps": [$STEPS_JSON]}
EOF
  mv "$OUTDIR/summary.json.tmp" "$OUTDIR/summary.json"
}

# nvcc: on PATH, or CUDACXX, or the toolkit's usual place.
NVCC=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$NVCC" ] || { [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc; }
nvcc_version() {  # "13.0" from "Cuda compilation tools, release 13.0, V13.0.88"
  "$NVCC" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p' | head -1
}
as_number() { local v=$1; echo $(( ${v%%.*} * 1000 + ${v#*.} * 10 )); }  # 13.0 -> 13000

# -- 1. preflight -------------------------------------------------------------------------------
if [ $BUILD_ONLY = 0 ]; then
  begin preflight
  {
    echo "# date"; date -u
    echo "# nvidia-smi"; nvidia-smi 2>&1
    echo "# nvidia-smi -L"; nvidia-smi -L 2>&1
    echo "# nvcc ($NVCC)"; "$NVCC" --version 2>&1
    echo "# $PY"; "$PY" -c 'import sys; print(sys.version)' 2>&1
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1
    "$PY" -c 'import cupy; print("cupy", cupy.__version__)' 2>&1
    echo "# CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"
  } > "$OUTDIR/preflight.txt"
  cat "$OUTDIR/preflight.txt"
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this is no GPU machine (use --build-only)"
  nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || die "nvidia-smi lists no GPU (see preflight.txt)"
  [ -n "$NVCC" ] || die "nvcc not found (set CUDACXX or put nvcc on PATH)"
  toolkit=$(nvcc_version)
  driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\.[0-9]*\).*/\1/p' | head -1)
  if [ -n "$toolkit" ] && [ -n "$driver_cuda" ] && [ "$(as_number "$driver_cuda")" -lt "$(as_number "$toolkit")" ]; then
    die "the driver supports CUDA $driver_cuda but nvcc is CUDA $toolkit: pycx._cuda links the CUDA $toolkit runtime and would find no device (cudaErrorInsufficientDriver). Update the driver (CUDA 13 needs R580+) or build with an nvcc <= $driver_cuda (CUDACXX=...)"
  fi
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
    || die "torch is missing or sees no CUDA device (the tests make their device arrays with torch)"
  "$PY" -c 'import cupy' 2>/dev/null || die "cupy is missing: with PYCX_EXPECT_GPU=1 the tests run on cupy arrays too"
  record preflight passed "$STEP_T0" "driver CUDA ${driver_cuda:-?}, nvcc ${toolkit:-?}"
fi

# -- 2. build -----------------------------------------------------------------------------------
begin build
[ -n "$NVCC" ] || die "nvcc not found (set CUDACXX or put nvcc on PATH)"
version=$("$PY" -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])" 2>/dev/null || echo dev)
pybind11_dir=$("$PY" -m pybind11 --cmakedir 2>/dev/null) || die "pybind11 is not installed for $PY"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT\$" "$BUILD_DIR/CMakeCache.txt"; then
  rm -rf "$BUILD_DIR"  # a cache made in another checkout would point at its sources
fi
{
  echo "# nvcc: $NVCC ($(nvcc_version)); python: $PY; architectures: $ARCHS"
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$pybind11_dir" \
    -DSKBUILD_PROJECT_VERSION="$version" -DCMAKE_CUDA_COMPILER="$NVCC" \
    -DPYCX_CUDA=ON -DPYCX_CUDA_ARCHS="$ARCHS" \
  && timeout 420 cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
} > "$OUTDIR/build.log" 2>&1
status=$?
tail -n 5 "$OUTDIR/build.log"
[ $status = 0 ] || die "the build failed (exit $status; see build.log)"
cpu_so=$(ls "$BUILD_DIR"/_cpu*.so 2>/dev/null | head -1)
cuda_so=$(ls "$BUILD_DIR"/_cuda*.so 2>/dev/null | head -1)
[ -n "$cpu_so" ] && [ -n "$cuda_so" ] || die "the build made no _cpu/_cuda module (see build.log)"
if [ $BUILD_ONLY = 1 ]; then
  # Load the new CUDA module from the build folder (pycx/ stays as it is): it must import,
  # carry the architectures asked for and export every function the Python side calls.
  check=$("$PY" - "$cuda_so" "$ARCHS" <<'EOF' 2>&1
import importlib.machinery, importlib.util, sys
path, archs = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location(
    "_cuda", path, loader=importlib.machinery.ExtensionFileLoader("_cuda", path))
cuda = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cuda)
want = {"probe_devices", "pack_patches", "concat_bits", "unpack_bits", "kde_sums",
        "hamming_distances", "state_counts", "gather_rows", "degeneracy", "unique_labels",
        "label_table", "covariance_update", "covariance_merge"}
missing = want - set(dir(cuda))
assert not missing, f"missing functions: {sorted(missing)}"
assert cuda.architectures == archs.replace(";", ","), (cuda.architectures, archs)
probe = cuda.probe_devices()
print(f"imports; architectures {cuda.architectures}; probe: {probe['device_count']} device(s)"
      f"{', ' + probe['error'] if probe['error'] else ''}; runtime {probe['runtime_version']}, "
      f"driver {probe['driver_version']}")
EOF
) || { echo "$check" >> "$OUTDIR/build.log"; die "the built module does not load: $check"; }
  echo "$check" | tee -a "$OUTDIR/build.log"
  record build passed "$STEP_T0" "build-only: $check"
  write_summary
  exit $FAILED
fi
cp "$cpu_so" "$cuda_so" pycx/ || die "could not copy the modules into pycx/"
record build passed "$STEP_T0"

# -- 3. build_info ------------------------------------------------------------------------------
begin build_info
info=$("$PY" - "$ARCHS" <<'EOF' 2>&1
import json, sys
import pycx
info = pycx.build_info()
print(json.dumps(info, indent=2))
want = sys.argv[1].replace(";", ",")
problems = []
if not info["cuda_compiled"]:
    problems.append("pycx._cuda is not built")
elif info["cuda_architectures"] != want:
    problems.append(f"pycx._cuda is built for {info['cuda_architectures']}, not {want}")
if not info["gpu_usable"]:
    problems.append(f"no usable GPU: {info['gpu_reason']}")
cc = info.get("gpu_compute_capability")
if cc and not any(a.split("-")[0] == str(cc) or a.endswith("virtual") for a in want.split(",")):
    problems.append(f"the GPU has compute capability {cc}, the module only code for {want}")
if problems:
    sys.exit("; ".join(problems))
EOF
)
status=$?
{ echo "# pycx.build_info()"; echo "$info"; } >> "$OUTDIR/preflight.txt"
echo "$info"
[ $status = 0 ] || die "$(echo "$info" | tail -1)"
record build_info passed "$STEP_T0"

# -- 4. tests -----------------------------------------------------------------------------------
begin tests
PYCX_EXPECT_GPU=1 CUDA_LAUNCH_BLOCKING=1 timeout 300 "$PY" -m pytest tests/test_cuda.py -v -rA \
  -p no:cacheprovider --junitxml="$OUTDIR/tests.xml" 2>&1 | tee "$OUTDIR/tests.log"
status=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then record tests passed "$STEP_T0"
elif [ "$status" = 124 ]; then record tests failed "$STEP_T0" "timed out after 300 s (see tests.log)"
else record tests failed "$STEP_T0" "pytest exit $status (see tests.log)"; fi

# -- 5. benchmark -------------------------------------------------------------------------------
begin bench
timeout 240 "$PY" benchmarks/gpu_bench.py --quick --json "$OUTDIR/gpu_bench.json" 2>&1 | tee "$OUTDIR/bench.log"
status=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then record bench passed "$STEP_T0"
elif [ "$status" = 124 ]; then record bench failed "$STEP_T0" "timed out after 240 s (see bench.log)"
else record bench failed "$STEP_T0" "exit $status (see bench.log)"; fi

# -- 6. memcheck --------------------------------------------------------------------------------
if [ $MEMCHECK = 1 ]; then
  begin memcheck
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  # The last and least essential step: it gets what is left of the budget (at most 150 s).
  left=$(( BUDGET - (STEP_T0 - T0) - 15 ))
  [ $left -gt 150 ] && left=150
  if [ -z "$sanitizer" ]; then
    record memcheck skipped "$STEP_T0" "compute-sanitizer not found"
  elif [ $left -lt 45 ]; then
    record memcheck skipped "$STEP_T0" "only ${left}s left of the ${BUDGET}s budget (rerun with more time, or --no-memcheck)"
  else
    # Small, non-hypothesis device tests on torch (cupy's pool would hide overruns), each
    # buffer its own allocation so that an overrun leaves it.
    PYCX_EXPECT_GPU=1 PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout $left "$sanitizer" --tool memcheck \
      --error-exitcode 3 --print-limit 20 "$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider \
      -k "(kde_sums_match or kde_sums_edge or stray_padding or pack_bits_threshold or (pack_per_patch and float32) or state_counts_many or (state_counts_hash and weak_hash) or covariance_strided) and not cupy" \
      > "$OUTDIR/memcheck.log" 2>&1
    status=$?
    tail -n 15 "$OUTDIR/memcheck.log"
    case $status in
      0) record memcheck passed "$STEP_T0" ;;
      3) record memcheck failed "$STEP_T0" "compute-sanitizer found memory errors (see memcheck.log)" ;;
      124) record memcheck incomplete "$STEP_T0" "timed out after ${left}s: no error seen before that" ;;
      *) record memcheck failed "$STEP_T0" "exit $status (see memcheck.log)" ;;
    esac
  fi
fi

write_summary
say "done: $([ $FAILED = 0 ] && echo PASSED || echo FAILED); summary in $OUTDIR/summary.json"
exit $FAILED
