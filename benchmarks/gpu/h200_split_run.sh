#!/usr/bin/env bash
# One call on the two-H200 machine (issue 15's pre-registered sets): build llama.cpp with CUDA if this
# machine has no build yet, then run benchmarks/gpu/campaign.py on both GPUs at once, each on its own
# model list (llama-bench only, start depths DEPTHS), until the call's time is nearly spent:
#   DEPTHS=0,4096,16384 benchmarks/gpu/h200_split_run.sh OUTDIR "M:Q M:Q ..." "M:Q M:Q ..."
# SERVER=1: llama-server sweeps through tokbench bench instead (campaign.py's server part, no llama-bench).
# Results: OUTDIR/gpu0/campaign.jsonl and OUTDIR/gpu1/campaign.jsonl (one JSON line per measurement,
# appended as it finishes), the build log and each campaign's log.
set -uo pipefail
out=${1:?usage: h200_split_run.sh OUTDIR "MODELS GPU0" "MODELS GPU1"}
list0=${2:?models for GPU 0}
list1=${3:-}
LLAMA_DIR=${LLAMA_DIR:-/tmp/llama.cpp}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
targets="llama-bench"; mode=--no-server
[ -n "${SERVER:-}" ] && targets="llama-bench llama-server" && mode=--no-llama-bench
if [ ! -x "$LLAMA_DIR/build/bin/llama-bench" ] || { [ -n "${SERVER:-}" ] && [ ! -x "$LLAMA_DIR/build/bin/llama-server" ]; }; then
  t0=$(date +%s)
  tar xzf .device/llama.cpp.tgz -C "$(dirname "$LLAMA_DIR")"
  (cd "$LLAMA_DIR" && cmake -S . -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
      -DCMAKE_BUILD_TYPE=Release >"$out/build.log" 2>&1 \
   && cmake --build build -j "$(nproc)" --target $targets >>"$out/build.log" 2>&1) \
   || { echo "llama.cpp build failed"; tail -30 "$out/build.log"; exit 1; }
  echo "built llama.cpp in $(( $(date +%s) - t0 )) s"
fi
budget=$(( ${CALL_LIMIT_S:-590} - SECONDS - 40 ))
run() {  # GPU, model list
  mkdir -p "$out/gpu$1"
  # shellcheck disable=SC2086
  python3 benchmarks/gpu/campaign.py --llama-bin "$LLAMA_DIR/build/bin" --out "$out/gpu$1" --workdir "/tmp/m$1" \
      --budget-s "$budget" --hardware h200 --gpu "$1" $mode --depths "${DEPTHS:-0,4096}" $2 >"$out/gpu$1/log.txt" 2>&1
}
run 0 "$list0" &
[ -n "$list1" ] && run 1 "$list1" &
wait
tail -n 12 "$out"/gpu*/log.txt
