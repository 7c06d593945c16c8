#!/bin/sh
# Builds opentop.wasm from opentop.js with componentize-js, through the SDK's
# componentize.mjs (run `npm install` in sdk/js once).
set -eu
cd "$(dirname "$0")"
WIT="${WIT:-wit}" OUT="${OUT:-.}" SDK="${SDK:-sdk}"
node "$SDK/componentize.mjs" opentop.js "$WIT" "$OUT/opentop.wasm"
