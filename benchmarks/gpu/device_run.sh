#!/usr/bin/env bash
# GPU campaign driver for a machine with an NVIDIA GPU (issue 8). Run from the repository root:
#   benchmarks/gpu/device_run.sh OUTDIR MODEL:QUANT [MODEL:QUANT ...]
# It needs .device/llama.cpp.tgz (made by ../shared/tools/llama-cpp-source.sh) unless a build
# already exists in $LLAMA_DIR, and the wheels in .whl/ for Python packages the image lacks
# (gguf, platformdirs). It builds llama-server and llama-bench with CUDA once (about 6 minutes on
# 16 cores), then runs benchmarks/gpu/campaign.py, which appends one JSON line per finished
# measurement to OUTDIR/campaign.jsonl, so a run cut short keeps everything it finished.
set -uo pipefail
out=${1:?usage: device_run.sh OUTDIR MODEL:QUANT ...}
shift
LLAMA_DIR=${LLAMA_DIR:-/tmp/llama.cpp}
mkdir -p "$out"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
if [ ! -x "$LLAMA_DIR/build/bin/llama-server" ] || [ ! -x "$LLAMA_DIR/build/bin/llama-bench" ]; then
  t0=$(date +%s)
  tar xzf .device/llama.cpp.tgz -C "$(dirname "$LLAMA_DIR")"
  (cd "$LLAMA_DIR" && cmake -S . -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
      -DCMAKE_BUILD_TYPE=Release >"$out/build.log" 2>&1 \
   && cmake --build build -j "$(nproc)" --target llama-server llama-bench >>"$out/build.log" 2>&1) \
   || { echo "llama.cpp build failed"; tail -30 "$out/build.log"; exit 1; }
  echo "built llama.cpp in $(( $(date +%s) - t0 )) s"
fi
# Leave the rest of a 600 s call for the measurements, with a margin to write results back.
budget=$(( ${CALL_LIMIT_S:-590} - SECONDS - 30 ))
exec python3 benchmarks/gpu/campaign.py --llama-bin "$LLAMA_DIR/build/bin" --out "$out" --budget-s "$budget" "$@"
