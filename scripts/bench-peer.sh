#!/usr/bin/env bash
# Installs the llama.cpp peer of `alx bench inference` (llama-cpp-python, a bench-only
# dependency: never part of the build or the tests) into a venv, and prints how to use it.
#
# llama.cpp is compiled from source for x86-64-v3 (AVX2, FMA, F16C), the baseline the issue's
# comparison names, without OpenMP so that one thread means one thread. About 10 minutes on
# 2 cores. Needs a C++ compiler; pip brings cmake.
#
# ALX_PEER_NATIVE=1 compiles it for this machine's CPU instead (AVX-512 where it has it, as
# alx-model's kernels use): the fair peer on such a machine. Give it its own venv:
#   ALX_PEER_NATIVE=1 scripts/bench-peer.sh ~/.cache/alx-bench-venv-native
set -euo pipefail
VENV="${1:-$HOME/.cache/alx-bench-venv}"
VERSION="0.3.36"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ "${ALX_PEER_NATIVE:-0}" = 1 ]; then
  FLAGS="-DGGML_NATIVE=ON -DGGML_OPENMP=OFF"
else
  FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF"
fi
if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  CMAKE_ARGS="$FLAGS" "$VENV/bin/pip" install --no-cache-dir "llama-cpp-python==$VERSION" numpy
fi
echo "peer ready: CANDLE_NUM_THREADS=1 alx bench inference --peer-python $VENV/bin/python"
