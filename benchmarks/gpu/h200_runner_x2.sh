#!/usr/bin/env bash
# Second two-H200 session (2026-11-30), started by `RUNNER=benchmarks/gpu/h200_runner_x2.sh
# benchmarks/gpu/h200_session.sh start`: speculative decoding through tokbench (issue 16) on GPU 0,
# then the pre-registered two-GPU rows (issue 11; predictions in
# data/h200_campaign/preregistered_x2_2026-11-30.json, committed before this ran): layer and tensor
# split for every model first, then RPC for the smaller ones while time lasts.
# Usage: h200_runner_x2.sh WORK LLAMA_BIN
source "$(dirname "$0")/runner_env.sh" "$@"
TOTAL_S=${TOTAL_S:-960}
MODELS=${MODELS:-"qwen3-30b-a3b:Q4_K_M gemma-3-27b:Q4_K_M qwen2.5-32b:Q4_K_M qwen3-next-80b-a3b:Q4_K_M gpt-oss-120b:MXFP4_MOE"}
RPC_MODELS=${RPC_MODELS:-"qwen3-30b-a3b:Q4_K_M gemma-3-27b:Q4_K_M qwen2.5-32b:Q4_K_M"}

log "speculative decoding (GPU 0)"
CUDA_VISIBLE_DEVICES=0 timeout 300 python3 benchmarks/gpu/spec_decode.py --llama-bin "$BIN" --out "$WORK/spec" \
  --hardware h200 --workdir /tmp/m0 --n-max 0,4,8 --requests 6 --timeout 200 > "$WORK/spec.log" 2>&1
tail -5 "$WORK/spec.log"
log "two GPUs: layer and tensor split"
python3 benchmarks/gpu/multi_gpu.py --llama-bin "$BIN" --out "$WORK/multi2" --budget-s "$(left $TOTAL_S)" \
  --modes sm-layer sm-tensor --keep $MODELS
log "two GPUs: RPC"
python3 benchmarks/gpu/multi_gpu.py --llama-bin "$BIN" --out "$WORK/multi2" --budget-s "$(left $TOTAL_S)" \
  --modes rpc $RPC_MODELS
log "all done"
touch "$WORK/DONE"
