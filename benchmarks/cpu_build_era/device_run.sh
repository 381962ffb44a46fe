#!/usr/bin/env bash
# The build-era measurement (benchmarks/cpu_build_era/measure.py) on the lent one-GPU machine's 16-vCPU Xeon
# (AVX-512), in one device call from the repository root:
#   benchmarks/cpu_build_era/device_run.sh OUTDIR [QUANTS] [THREADS] [OLD]
# OLD is the older llama-cpp-python release whose llama.cpp is measured against the current one (0.2.84, the
# 2024-07 tree, or 0.3.6, 2025-01). Needs .device/llama.cpp.tgz (current: ../shared/tools/llama-cpp-source.sh)
# and .device/llama.cpp-OLD.tgz (the sdist's vendor/llama.cpp as llama.cpp/, e.g. from
# ../shared/tools/llama-cpp-source.sh 0.2.84 DIR, renamed; 0.3.6's without models/*.gguf, docs and media, which
# the build does not read, to stay inside the 64 MiB a call carries), and the gguf/platformdirs wheels in .whl/.
# Both builds are compiled at once (8 jobs each), CPU only (GGML_NATIVE), then measured interleaved.
set -uo pipefail
out=${1:?outdir}; quants=${2:-Q4_0,Q4_K_M,Q8_0,F16,Q6_K,IQ4_XS,Q5_0,IQ4_NL}; threads=${3:-4,16}; old=${4:-0.2.84}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src CUDA_VISIBLE_DEVICES=
build() {  # $1 tarball, $2 version label
  local dir=/tmp/src-$2
  [ -x /tmp/era/$2/bin/llama-bench ] && return 0  # a warm machine keeps the last call's builds
  mkdir -p "$dir" && tar xzf "$1" -C "$dir"
  cmake -S "$dir/llama.cpp" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF > "$out/build-$2.log" 2>&1 \
  && cmake --build "$dir/build" -j 8 --target llama-bench >> "$out/build-$2.log" 2>&1 \
  && mkdir -p /tmp/era/$2/bin && cp "$dir/build/bin/llama-bench" /tmp/era/$2/bin/
}
t0=$SECONDS
build .device/llama.cpp.tgz 0.3.36 & build ".device/llama.cpp-$old.tgz" "$old" & wait
echo "builds done in $((SECONDS - t0)) s: $(ls /tmp/era)"
{ lscpu; nproc; } > "$out/lscpu.txt" 2>&1
python3 benchmarks/cpu_build_era/measure.py measure --bins /tmp/era --work /tmp/era-models --host cpu-h200-vm-xeon-16c \
  --threads "$threads" --builds "$old,0.3.36" --quants "$quants" --reps 2 --raw "$out/build_era.jsonl" \
  --budget-s $(( ${CALL_LIMIT_S:-590} - SECONDS - 90 ))
