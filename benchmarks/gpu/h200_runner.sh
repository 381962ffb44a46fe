#!/usr/bin/env bash
# The background part of benchmarks/gpu/h200_session.sh: runs on the two-H200 machine, in a session of
# its own so that it outlives the device call that started it. Usage: h200_runner.sh WORK LLAMA_BIN
source "$(dirname "$0")/runner_env.sh" "$@"
# One lease holds the machine for at most ~25 minutes after the build: single-GPU work stops starting
# new models SINGLE_S after this script starts, the two-GPU splits by TOTAL_S.
SINGLE_S=${SINGLE_S:-540}
TOTAL_S=${TOTAL_S:-1050}
C="python3 benchmarks/gpu/campaign.py --llama-bin $BIN --hardware h200"

# Single GPU, both GPUs at once on disjoint model lists (llama-bench; llama-server sweeps for three models).
(
  # Servers first (the pre-registered sweeps), speculative decoding (issue 16), then llama-bench alone.
  $C --budget-s "$(left $SINGLE_S)" --gpu 0 --out "$WORK/gpu0" --workdir /tmp/m0 llama-3.1-8b:Q4_K_M qwen3-30b-a3b:Q4_K_M
  if [ -f benchmarks/gpu/spec_decode.py ] && [ "$(left $SINGLE_S)" -gt 60 ]; then
    CUDA_VISIBLE_DEVICES=0 python3 benchmarks/gpu/spec_decode.py --llama-bin "$BIN" --out "$WORK/spec" \
      --hardware h200 --workdir /tmp/m0 --n-max 1,4,8 --requests 6 --timeout 240
  fi
  $C --budget-s "$(left $SINGLE_S)" --gpu 0 --out "$WORK/gpu0" --workdir /tmp/m0 --no-server llama-3.1-8b:Q8_0 llama-3.1-8b:F16 \
     qwen2.5-7b:Q4_K_M qwen2.5-14b:Q4_K_M qwen2.5-32b:Q4_K_M gemma-3-27b:Q4_K_M qwen3-30b-a3b:Q8_0
) > "$WORK/gpu0.log" 2>&1 &
p0=$!
(
  $C --budget-s "$(left $SINGLE_S)" --gpu 1 --out "$WORK/gpu1" --workdir /tmp/m1 qwen3.5-397b-a17b:IQ2_XXS
  $C --budget-s "$(left $SINGLE_S)" --gpu 1 --out "$WORK/gpu1" --workdir /tmp/m1 --no-server llama-3.3-70b:Q4_K_M \
     gpt-oss-20b:MXFP4_MOE gpt-oss-120b:MXFP4_MOE qwen3-next-80b-a3b:Q4_K_M
) > "$WORK/gpu1.log" 2>&1 &
p1=$!
while kill -0 $p0 2>/dev/null || kill -0 $p1 2>/dev/null; do
  sleep 30
  log "gpu0: $(tail -1 "$WORK/gpu0.log" | cut -c1-150)"
  log "gpu1: $(tail -1 "$WORK/gpu1.log" | cut -c1-150)"
done
log "single-GPU runs done"

# Two GPUs: llama.cpp's layer split, tensor split and RPC (issue 11).
python3 benchmarks/gpu/multi_gpu.py --llama-bin "$BIN" --out "$WORK/multi" --budget-s "$(left $TOTAL_S)" \
  llama-3.3-70b:Q4_K_M qwen3.5-397b-a17b:IQ4_XS
log "all done"
touch "$WORK/DONE"
