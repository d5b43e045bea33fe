#!/usr/bin/env bash
# `make bench`: the performance budget (design brief §6) on release binaries, against an
# ephemeral stack of its own. Prints a Markdown table and keeps it in .local/bench.md.
# Not part of `make test`: release builds with full LTO take minutes on a small machine.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_venv

say "building release binaries (full LTO; this takes a while)"
cargo build --release -p session-me -p session-anonymous -p chat-history -p parley-bench
cargo build -q -p parley-local
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

ephemeral_stack_up bench "$TARGET/debug/parley-local"
. "$STATE/stack.env"
export PARLEY_BENCH_BIN_DIR="$TARGET/release"
# Thousands of sessions come from 127.0.0.1: keep the per-address limit (still checked, so
# its DynamoDB call is measured) from refusing them.
export PARLEY_SESSION_RATE_LIMIT=100000000/60s

say "measuring"
"$TARGET/release/parley-bench" | tee "$LOCAL/bench.md"
for f in session-me session-anonymous chat-history; do
  python3 - "$TARGET/release/$f" <<'PY'
import io, os, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")
print(f"{os.path.basename(sys.argv[1])}: zipped bootstrap {len(buf.getvalue()) / 1048576:.2f} MB")
PY
done | tee -a "$LOCAL/bench.md"
