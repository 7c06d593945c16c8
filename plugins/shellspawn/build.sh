#!/bin/sh
# Builds shellspawn.wasm from app.py with componentize-py (pip install componentize-py).
set -eu
cd "$(dirname "$0")"
WIT="${WIT:-wit}" OUT="${OUT:-.}" SDK="${SDK:-.}"
componentize-py -d "$WIT" -w plugin componentize -p . -p "$SDK" app -o "$OUT/shellspawn.wasm"
