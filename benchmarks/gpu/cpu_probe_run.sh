#!/usr/bin/env bash
# The host kernel probe on a lent machine's CPU (issue 15, item 5's probe on a host other than the dev VM),
# run from the repository root there with .whl/ holding llama-cpp-python's wheel (built here by
# scripts/bootstrap: CPU, AVX2) and diskcache, gguf, platformdirs:
#   benchmarks/gpu/cpu_probe_run.sh predict OUTDIR SET   probe + predictions (host_kernel_check.py predict):
#                                                        OUTDIR/host-check.json; commit it before measuring
#   benchmarks/gpu/cpu_probe_run.sh measure OUTDIR FILE  host_kernel_check.py measure on a copy of FILE
# The GPUs are hidden from tokbench's probe (an nvidia-smi that finds none first on PATH), so the host is
# planned and benched as the CPU machine it also is; llama.cpp there is the wheel's CPU build.
set -uo pipefail
phase=${1:?phase}; out=${2:?outdir}
mkdir -p "$out" /tmp/nogpu
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site TOKBENCH_CACHE_DIR=/tmp/tbcache
printf '#!/bin/sh\nexit 1\n' > /tmp/nogpu/nvidia-smi && chmod +x /tmp/nogpu/nvidia-smi
export PATH=/tmp/nogpu:$PATH
case $phase in
  predict)
    { lscpu; echo "nproc: $(nproc)"; } > "$out/lscpu.txt" 2>&1
    python3 -m tokbench.cli.main hw probe > "$out/hw-probe.txt" 2>&1
    python3 benchmarks/host_kernel_check.py predict "$out/host-check.json" --set "${3:-4}" ;;
  measure)
    cp "${3:?predictions file}" "$out/host-check.json"
    python3 -m tokbench.cli.main hw probe > "$out/hw-probe-before-measure.txt" 2>&1
    python3 benchmarks/host_kernel_check.py measure "$out/host-check.json" ;;
  *) echo "unknown phase $phase"; exit 2 ;;
esac
