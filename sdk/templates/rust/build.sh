#!/bin/sh
# Builds {{name}}.wasm (rustup target add wasm32-wasip2, once).
set -eu
cd "$(dirname "$0")"
OUT="${OUT:-.}"
cargo build --release
cp target/wasm32-wasip2/release/{{name}}.wasm "$OUT/"
