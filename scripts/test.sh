#!/usr/bin/env bash
# `make test`: every test in the workspace against a stack of its own - a fresh
# PostgreSQL cluster, moto and the local gateway, each on a free port - torn down even
# when tests fail. Also lints the SAM template and checks formatting. Exits non-zero on
# any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_venv
ensure_nextest

say "cfn-lint infra/template.yaml"
"$VENV/bin/cfn-lint" infra/template.yaml

if cargo fmt --version >/dev/null 2>&1; then
  say "cargo fmt --check"
  cargo fmt --all --check
else
  say "rustfmt is not part of this toolchain; skipping the format check"
fi

if cargo clippy --version >/dev/null 2>&1; then
  say "cargo clippy"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
else
  say "clippy is not part of this toolchain; skipping lints"
fi

say "building"
cargo build --workspace --bins
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/debug/parley-local"

ephemeral_stack_up test "$BIN"
# The concurrency test posts 200 messages as one user at once; the rate-limit test uses
# anonymous callers, whose default limit stays in force.
echo "export PARLEY_CHAT_RATE_LIMIT_USER=100000/60s" >>"$STATE/stack.env"
. "$STATE/stack.env"

# At info whatever the shell says: the log audit below needs every request's access line.
PARLEY_LOG=info "$BIN" serve --addr 127.0.0.1:0 --port-file "$STATE/http.port" >"$STATE/gateway.log" 2>&1 &
echo $! >"$STATE/gateway.pid"
for _ in $(seq 1 300); do [ -s "$STATE/http.port" ] && break; sleep 0.1; done
[ -s "$STATE/http.port" ] || die "the gateway did not start: $(tail -n 5 "$STATE/gateway.log")"
sed -i "s|^export PARLEY_URL=.*|export PARLEY_URL=http://127.0.0.1:$(cat "$STATE/http.port")|" "$STATE/stack.env"
# shellcheck disable=SC1091
. "$STATE/stack.env"
export PARLEY_BIN_DIR="$TARGET/debug" PARLEY_LOG=warn
# The gateway logs every request of the suite here (at info); tests/tests/log_audit.rs scans
# it after every other test has run, so it is left out of the main run.
export PARLEY_GATEWAY_LOG="$STATE/gateway.log"

say "running the tests"
cargo nextest run --workspace --no-fail-fast -E 'not binary(log_audit)'

say "auditing every log line of the suite"
cargo nextest run -p parley-e2e --test log_audit --no-fail-fast
