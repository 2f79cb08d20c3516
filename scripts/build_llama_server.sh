#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama.cpp sources vendored in the
# llama-cpp-python sdist, into a cache folder outside the repository, for the side-by-side
# column of benchmarks/bench_generate.py (`--llama-server`).
#
# The only download is the sdist itself, through pip from PyPI (`pip download --no-binary`);
# the build turns off everything in llama.cpp's CMake that fetches (the prebuilt web UI from
# the Hugging Face bucket, HTTPS/curl model downloads, tests and examples). Nothing of
# llama.cpp is written into the repository.
#
#   scripts/build_llama_server.sh            # -> $CACHE/bin/llama-server
#   JOBS=2 LLAMA_CPP_PYTHON_VERSION=0.3.36 CACHE=~/.cache/stylegen/llama-server scripts/build_llama_server.sh
#
# Prints the binary's path on its last line. Building again with the binary present does nothing.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${CACHE:-${STYLEGEN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/stylegen}/llama-server}"
JOBS="${JOBS:-2}"
PIP="${PIP:-$(dirname "$0")/../.venv/bin/pip}"
[ -x "$PIP" ] || PIP="$(command -v pip3 || command -v pip)"
BIN="$CACHE/bin/llama-server"

if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi
for tool in cmake gcc g++; do
    command -v "$tool" >/dev/null || { echo "build_llama_server: $tool is not installed" >&2; exit 2; }
done
mkdir -p "$CACHE/src"
SDIST="$(ls "$CACHE"/src/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)"
if [ -z "$SDIST" ]; then
    "$PIP" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE/src"
    SDIST="$CACHE/src/llama_cpp_python-$VERSION.tar.gz"
fi
tar -xzf "$SDIST" -C "$CACHE/src"
SRC="$CACHE/src/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -f "$SRC/CMakeLists.txt" ] || { echo "build_llama_server: no vendored llama.cpp in $SDIST" >&2; exit 2; }

# GGML_NATIVE: the kernels this CPU has (AVX2, AVX-512, VNNI...), as a local build would.
cmake -S "$SRC" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_LLGUIDANCE=OFF >"$CACHE/cmake.log"
cmake --build "$CACHE/build" --target llama-server -j "$JOBS" >"$CACHE/build.log"
mkdir -p "$CACHE/bin"
cp "$CACHE/build/bin/llama-server" "$BIN"
echo "$BIN"
