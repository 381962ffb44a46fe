#!/usr/bin/env bash
# Build CPU-only llama-bench and llama-quantize from the llama.cpp that each llama-cpp-python release vendors
# (PyPI sdists: the only way to old llama.cpp sources on a machine that reaches nothing but package registries).
# Usage: benchmarks/cpu_build_era/build.sh DEST VERSION...   e.g. /tmp/era 0.2.84 0.3.6 0.3.36
#   0.2.84 vendors llama.cpp 4730faca (2024-07, just after b3441 081fe431, the build of the published
#   Apple M2 Max and Ryzen 9 7950X CPU rows); 0.3.6 vendors f7cd1330 (2025-01); 0.3.36 is this project's
#   current engine. Each build lands in DEST/VERSION/bin.
set -euo pipefail
dest=${1:?dest}; shift
mkdir -p "$dest"
for ver in "$@"; do
  [ -x "$dest/$ver/bin/llama-bench" ] && continue
  work="$dest/src-$ver"
  if [ ! -d "$work" ]; then
    mkdir -p "$work"
    python3 -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$ver"
    tar xzf "$work/llama_cpp_python-$ver.tar.gz" -C "$work"
  fi
  src="$work/llama_cpp_python-$ver/vendor/llama.cpp"
  t0=$SECONDS
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DBUILD_SHARED_LIBS=OFF > "$work/build.log" 2>&1
  # llama-bench is an example target in older trees: build it by name whatever the examples switch says
  cmake --build "$work/build" -j "$(nproc)" --target llama-bench llama-quantize >> "$work/build.log" 2>&1 || {
    # older trees only define the targets with examples on
    cmake -S "$src" -B "$work/build" -DLLAMA_BUILD_EXAMPLES=ON >> "$work/build.log" 2>&1
    cmake --build "$work/build" -j "$(nproc)" --target llama-bench llama-quantize >> "$work/build.log" 2>&1; }
  mkdir -p "$dest/$ver/bin"
  cp "$work/build/bin/llama-bench" "$work/build/bin/llama-quantize" "$dest/$ver/bin/"
  echo "$ver: built in $((SECONDS - t0)) s"
done
