#!/bin/sh
# Builds opentop.wasm from plugin.js with componentize-js (npm).
set -eu
cd "$(dirname "$0")"
WIT="${WIT:-wit}" OUT="${OUT:-.}" SDK="${SDK:-.}"
[ -d "$SDK/node_modules/@bytecodealliance/componentize-js" ] || (cd "$SDK" && npm install --silent --no-audit --no-fund)
node "$SDK/componentize.mjs" plugin.js "$WIT" "$OUT/opentop.wasm"
