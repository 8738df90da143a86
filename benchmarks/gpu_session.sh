#!/usr/bin/env bash
# The GPU checks a session makes when it is lent a machine with an NVIDIA GPU, in one command
# (device time is short: start a machine once, run everything, bring the logs back).
#
#   bash benchmarks/gpu_session.sh [OUTDIR]        # OUTDIR defaults to $OUT, else gpu-session-out/
#
# On a machine with CuPy (the device machines have CuPy 14, PyTorch, matplotlib and pytest in python3);
# minigan runs from the checkout (no install: PYTHONPATH).
# Each step has its own time limit and writes its log into OUTDIR; a failing step does not stop
# the next. Steps:
#   1. versions: GPU, driver, Python, NumPy, CuPy, PyTorch (if any)
#   2. the whole test suite with MINIGAN_BACKEND=cupy: the real-GPU tests (NumPy/CuPy parity, CuPy
#      checkpoints) run instead of skipping, and so do the subprocess tests and the tests that take
#      the default backend on CuPy; the unit tests run on the active backend, except those that
#      are NumPy-only by nature (exact resumes, generator states; each says why)     <= 240 s
#   3. bench_memory.py --device cuda: CuPy's pool over 1,000 iterations of the MNIST GAN  <= 120 s
#   4. bench_iteration.py --device cuda --no-compile: CuPy vs PyTorch CUDA (needs torch) <= 150 s
# About 9 minutes at most: it fits one call of the device tool (10 minutes). Record what it
# printed, with the device and the date, in benchmarks/RESULTS.md ("GPU").
# Without a GPU every step says so and skips; the script itself exits 0.
set -uo pipefail
out="${1:-${OUT:-$(dirname "$0")/../gpu-session-out}}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"      # a relative OUTDIR is the caller's, not the repo's
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # minigan from the checkout, also for tests' subprocesses

step() {   # step NAME SECONDS COMMAND...: run with a time limit, log to $out/NAME.txt
  local name=$1 limit=$2; shift 2
  echo "== $name ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), limit ${limit}s)" | tee "$out/$name.txt"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.txt"
  echo "== $name: exit status ${PIPESTATUS[0]}" | tee -a "$out/$name.txt"
}

step versions 60 bash -c 'nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv 2>&1; python3 -c "
import platform, numpy
print(\"python\", platform.python_version(), \"numpy\", numpy.__version__)
try:
    import cupy; print(\"cupy\", cupy.__version__, \"CUDA runtime\", cupy.cuda.runtime.runtimeGetVersion())
except Exception as e: print(\"cupy: not usable:\", e)
try:
    import torch; print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available())
except Exception as e: print(\"torch: not importable:\", e)
from minigan import backend; print(\"minigan sees CuPy and a GPU:\", backend.cupy_available())"'

if python3 -c "from minigan import backend; raise SystemExit(0 if backend.cupy_available() else 1)"; then
  step pytest-cupy 240 env MINIGAN_BACKEND=cupy python3 -m pytest -q -p no:cacheprovider
  step bench-memory-cuda 120 python3 benchmarks/bench_memory.py --device cuda --iterations 1000 --every 250
  step bench-iteration-cuda 150 python3 benchmarks/bench_iteration.py --device cuda --no-compile
else
  echo "no CuPy with a visible GPU here: steps 2-4 skipped" | tee "$out/skipped.txt"
fi
exit 0
