#!/bin/sh
# Rebuilds src/model/kernels/kernels.wasm from the C sources beside it (the .wasm is committed,
# so neither install nor start-up needs a compiler). Needs Debian's clang, lld and wabt:
#   apt-get install clang lld wabt
# The kernels run inside TF.js's wasm memory, so a build is refused if it uses the C stack or
# has static data: either would write at addresses that TF.js owns.
set -eu
cd "$(dirname "$0")/../src/model/kernels"
clang --target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -Wall -Werror \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -o kernels.wasm ./*.c
dump=$(wasm-objdump -x -d kernels.wasm)
if echo "$dump" | grep -q "global\.\(get\|set\)"; then echo "kernels.wasm: uses the C stack (a global); keep locals out of memory" >&2; exit 1; fi
if echo "$dump" | grep -q "^Data\["; then echo "kernels.wasm: has static data; use constants in code" >&2; exit 1; fi
echo "built kernels.wasm ($(wc -c < kernels.wasm) bytes): $(echo "$dump" | grep -o '<[a-z_]*> -> "[a-z_]*"' | sed 's/.*-> //' | tr '\n' ' ')"
