#!/usr/bin/env bash
# One lease of the two-H200 machine (issues 15, 16, 11), in phases that each fit one device call:
#   benchmarks/gpu/h200_session.sh build        # unpack .device/llama.cpp.tgz, build llama-bench,
#                                               # llama-server and rpc-server with CUDA (sm_90)
#   benchmarks/gpu/h200_session.sh start        # launch the whole campaign in the background (setsid):
#                                               # it outlives the call and writes to $WORK
#   benchmarks/gpu/h200_session.sh wait SECONDS # wait for it (or the time), copy results to $OUT
# The background run (benchmarks/gpu/h200_runner.sh) measures single-GPU llama-bench and llama-server
# sweeps on both GPUs at once (disjoint model lists), then speculative decoding, then the two-GPU
# split modes. Every measurement is appended to JSON lines as it finishes.
set -uo pipefail
phase=${1:?usage: h200_session.sh build|start|wait SECONDS}
WORK=${WORK:-/tmp/h200}
LLAMA_DIR=${LLAMA_DIR:-/tmp/llama.cpp}
OUTDIR=${OUT:-/tmp/h200-out}
mkdir -p "$WORK" "$OUTDIR"
case "$phase" in
build)
  t0=$(date +%s)
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$WORK/gpus.txt"
  tar xzf .device/llama.cpp.tgz -C "$(dirname "$LLAMA_DIR")"
  (cd "$LLAMA_DIR" && cmake -S . -B build -DGGML_CUDA=ON -DGGML_RPC=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF \
      -DLLAMA_USE_PREBUILT_UI=OFF -DCMAKE_BUILD_TYPE=Release >"$WORK/build.log" 2>&1 \
   && cmake --build build -j "$(nproc)" --target llama-server llama-bench ggml-rpc-server >>"$WORK/build.log" 2>&1) \
   || { echo "llama.cpp build failed"; tail -30 "$WORK/build.log"; exit 1; }
  # This llama.cpp names the RPC server's target ggml-rpc-server (tools/rpc); the scripts call rpc-server.
  b="$LLAMA_DIR/build/bin"; [ -x "$b/rpc-server" ] || cp "$(ls "$b"/*rpc-server | head -1)" "$b/rpc-server"
  echo "built llama.cpp in $(( $(date +%s) - t0 )) s"
  ls -la "$LLAMA_DIR/build/bin/" | grep -E "llama-bench|llama-server|rpc-server"
  ;;
start)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  df -h /dev/shm /tmp | tee "$WORK/disk.txt"
  # RUNNER: the background script (default: the 2026-11-30 campaign; h200_runner_x2.sh: the second session)
  setsid nohup bash "${RUNNER:-benchmarks/gpu/h200_runner.sh}" "$WORK" "$LLAMA_DIR/build/bin" >"$WORK/runner.log" 2>&1 < /dev/null &
  sleep 20
  tail -20 "$WORK/runner.log"
  ;;
wait)
  secs=${2:-500}
  end=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$end" ] && [ ! -f "$WORK/DONE" ]; do sleep 10; done
  tail -40 "$WORK/runner.log"
  for f in "$WORK"/runner.log "$WORK"/gpu0/campaign.jsonl "$WORK"/gpu1/campaign.jsonl "$WORK"/spec/spec_decode.jsonl \
           "$WORK"/multi/multi_gpu.jsonl "$WORK"/multi2/multi_gpu.jsonl; do
    [ -f "$f" ] && cp "$f" "$OUTDIR/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
  (cd "$WORK" && tar czf "$OUTDIR/dbs-env.tgz" --ignore-failed-read gpu0/*.db gpu1/*.db gpu0/env.json gpu1/env.json \
      spec/*.db spec/*.log multi2/*.log gpus.txt disk.txt gpu0/*.log gpu1/*.log 2>/dev/null)
  ls -la "$OUTDIR"
  ;;
esac
