#!/usr/bin/env bash
# Device driver for benchmarks/gpu/cpu_host_campaign.py (issue 15): one call per phase, run from the
# repository root on a lent machine.
#   benchmarks/gpu/cpu_host_run.sh predict OUTDIR SET COMMIT   probe + predictions (before any llama.cpp
#        run), then the machine's lscpu, then a CPU-only llama-bench build (GGML_NATIVE, no CUDA)
#   benchmarks/gpu/cpu_host_run.sh measure OUTDIR SET          waits for that build (or builds, on a fresh
#        machine), then measures the set within the call's limit
# Needs .device/llama.cpp.tgz (../shared/tools/llama-cpp-source.sh) and the gguf/platformdirs wheels in .whl/.
set -uo pipefail
phase=${1:?phase}; out=${2:?outdir}; set_id=${3:?set}
LLAMA_DIR=/tmp/llama.cpp
# Set 8 runs llama.cpp built for AVX2 only (GGML_NATIVE off turns on AVX, AVX2, FMA, F16C, BMI2 and leaves
# every AVX-512 and AVX-VNNI option off), in its own build folder.
case $set_id in 8) BUILD=build-cpu-avx2; ISA_FLAGS="-DGGML_NATIVE=OFF" ;; *) BUILD=build-cpu; ISA_FLAGS="" ;; esac
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src
build() {
  [ -x "$LLAMA_DIR/$BUILD/bin/llama-bench" ] && return 0
  [ -d "$LLAMA_DIR" ] || tar xzf .device/llama.cpp.tgz -C /tmp
  # shellcheck disable=SC2086  # ISA_FLAGS is empty or one flag
  (cd "$LLAMA_DIR" && cmake -S . -B "$BUILD" -DGGML_CUDA=OFF $ISA_FLAGS -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
     -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DCMAKE_BUILD_TYPE=Release >/tmp/build-cpu.log 2>&1 \
   && cmake --build "$BUILD" -j "$(nproc)" --target llama-bench >>/tmp/build-cpu.log 2>&1) || { tail -20 /tmp/build-cpu.log; return 1; }
  # What the CPU backend was compiled for, and whether any AVX-512 (zmm) instruction is in it
  grep -E "Adding CPU backend variant|GGML_AVX|-march" /tmp/build-cpu.log | head -5
  lib=$(find "$LLAMA_DIR/$BUILD" -name 'libggml-cpu*.so' | head -1); lib=${lib:-$LLAMA_DIR/$BUILD/bin/llama-bench}
  [ -n "$lib" ] && command -v objdump >/dev/null && echo "zmm instructions in $(basename "$lib"): $(objdump -d "$lib" | grep -c zmm)"
}
case $phase in
  predict)
    python3 benchmarks/gpu/cpu_host_campaign.py predict --out "$out" --set "$set_id" --commit "${4:-unknown}" || exit 1
    { lscpu; echo "nproc: $(nproc)"; free -g; } > "$out/lscpu-set$set_id.txt" 2>&1
    grep -m1 '^flags' /proc/cpuinfo > "$out/flags-set$set_id.txt"
    t0=$SECONDS; build && echo "built llama-bench (CPU) in $((SECONDS - t0)) s" ;;
  measure)
    t0=$SECONDS; build || exit 1; echo "llama-bench ready after $((SECONDS - t0)) s"
    python3 benchmarks/gpu/cpu_host_campaign.py measure --out "$out" --set "$set_id" \
      --llama-bin "$LLAMA_DIR/$BUILD/bin" --budget-s $(( ${CALL_LIMIT_S:-590} - SECONDS - 25 )) ;;
  *) echo "unknown phase $phase"; exit 2 ;;
esac
