#!/usr/bin/env bash
# Does llama.cpp's CPU backend abort on a model only with its extra weight buffers (AMX on this Xeon, the
# repacked layouts) turned on? Issue 15: glm-4.7-flash (MLA) aborted at graph reserve on the lent Xeon's native
# build in CPU sets 9 and 10 (GGML_ASSERT(*cur_backend_id != -1)). One call on a lent machine, repository root:
#   benchmarks/gpu/cpu_extra_buft_check.sh OUTDIR [MODEL] [QUANT]
# Builds the CPU-only llama-bench as benchmarks/gpu/cpu_host_run.sh does (.device/llama.cpp.tgz), synthesizes the
# model at real size, and runs llama-bench with --repack 0 (no extra buffer types) and then --repack 1 (the default).
set -uo pipefail
out=${1:?outdir}; model=${2:-glm-4.7-flash}; quant=${3:-Q4_K_M}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src CUDA_VISIBLE_DEVICES=
LLAMA_DIR=/tmp/llama.cpp
[ -d "$LLAMA_DIR" ] || tar xzf .device/llama.cpp.tgz -C /tmp
if [ ! -x "$LLAMA_DIR/build-cpu/bin/llama-bench" ]; then
  (cd "$LLAMA_DIR" && cmake -S . -B build-cpu -DGGML_CUDA=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
     -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DCMAKE_BUILD_TYPE=Release >/tmp/build-cpu.log 2>&1 \
   && cmake --build build-cpu -j "$(nproc)" --target llama-bench >>/tmp/build-cpu.log 2>&1) || { tail -20 /tmp/build-cpu.log; exit 1; }
fi
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^amx' | tr '\n' ' ' > "$out/amx-flags.txt"
gguf=/tmp/check-$model-$quant.gguf
python3 -m tokbench synth "$model" --quant "$quant" --vocab real --out "$gguf" --force >/dev/null || exit 1
for rp in 0 1; do
  "$LLAMA_DIR/build-cpu/bin/llama-bench" -m "$gguf" -ngl 0 -p 0 -n 32 -r 3 -v \
    --repack "$rp" -o jsonl > "$out/repack$rp.jsonl" 2> "$out/repack$rp.err"
  echo "repack $rp: exit $? $(grep -o '"avg_ts": [0-9.]*' "$out/repack$rp.jsonl") $(grep -m1 GGML_ASSERT "$out/repack$rp.err")"
  grep -E "AMX|REPACK|CPU_REPACK|model buffer size" "$out/repack$rp.err" | head -6
done
