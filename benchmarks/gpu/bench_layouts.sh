#!/usr/bin/env bash
# tokbench bench's own multi-GPU launcher (issue 11) on a host with 2+ NVIDIA GPUs: the same model under
# llama.cpp's layer and tensor splits (--split-mode) and, for comparison, one GPU; each a stored run whose
# identity carries the topology (`tokbench runs`, `tokbench report`). Not run yet: written on a CPU-only
# machine, for the lead's GPU session.
#
# Needs a CUDA llama-cpp-python with RPC in .venv (once: CMAKE_ARGS="-DGGML_CUDA=ON" scripts/bootstrap;
# bootstrap adds -DGGML_RPC=ON and builds ggml-rpc-server). Row split is left out: this llama.cpp refuses
# it on CUDA ("device CUDA0 does not support split buffers").
#
# Usage (repository root): benchmarks/gpu/bench_layouts.sh MODEL.gguf OUT_DB [DEPTH]
set -euo pipefail
model=${1:?MODEL.gguf}; db=${2:?OUT_DB}; depth=${3:-512}
tb() { .venv/bin/tokbench bench --engine llama.cpp-server --model "$model" --context-depth "$depth" \
       --gen-tokens 128 --concurrency 1 --requests 3 --db "$db" --json "$@"; }
CUDA_VISIBLE_DEVICES=0 tb --name one-gpu --split-mode layer
tb --name sm-layer --split-mode layer
tb --name sm-tensor --split-mode tensor --link nvlink
# llama.cpp RPC between two processes of this host: the rpc-server sees every GPU of the host too, so
# this measures RPC's overhead on the same devices, not a GPU-per-process split.
tb --name rpc-loopback --rpc 1
