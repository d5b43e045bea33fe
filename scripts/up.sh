#!/usr/bin/env bash
# `make up`: the whole stack on this machine - PostgreSQL (a throwaway cluster under
# .local/, with an empty database each run), moto (KMS + DynamoDB), migrations, the
# template's tables and key, and the local
# gateway on 127.0.0.1:${PARLEY_HTTP_PORT:-3000}. Stays in the foreground; Ctrl-C stops
# everything it started. Safe to run again: leftovers of a killed run are stopped first.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HTTP_PORT=${PARLEY_HTTP_PORT:-3000}
PG_PORT=${PARLEY_PG_PORT:-55432}
MOTO_PORT=${PARLEY_MOTO_PORT:-55050}
STRIPE_PORT=${PARLEY_STRIPE_PORT:-12111}
STATE="$LOCAL/dev"
mkdir -p "$STATE"

ensure_postgres
ensure_venv

say "building the local gateway"
cargo build -q -p parley-local --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/parley-local"

PG_DIR=$(pg_data_dir pg)
cleanup() {
  kill_pidfile "$STATE/gateway.pid"
  kill_pidfile "$STATE/stripe.pid"
  kill_pidfile "$STATE/twilio.pid"
  kill_pidfile "$STATE/moto.pid"
  pg_stop "$PG_DIR"
}
cleanup # a previous run killed with -9 may have left these behind
trap 'say "stopping the stack"; cleanup' EXIT
trap 'exit 130' INT TERM

pg_start "$PG_DIR" "$PG_PORT"
# moto keeps KMS keys and DynamoDB items in memory only, so data from a previous run (wallet
# keys encrypted under a key that no longer exists) cannot outlive it: start empty too.
pg_psql -d postgres -c "DROP DATABASE IF EXISTS parley WITH (FORCE)" -c "CREATE DATABASE parley" >/dev/null
moto_start "$MOTO_PORT" "$STATE/moto.log"
echo "$MOTO_PID" >"$STATE/moto.pid"
write_env "$LOCAL/stack.env" "$HTTP_PORT" "$MOTO_PORT"
stripe_stub_start "$BIN" "$STRIPE_PORT" "$STATE" "$LOCAL/stack.env"
stack_prepare "$LOCAL/stack.env" "$BIN"
twilio_stub_start "$BIN" "$STATE" "$LOCAL/stack.env"
. "$LOCAL/stack.env"

"$BIN" serve --addr "127.0.0.1:$HTTP_PORT" &
GATEWAY_PID=$!
echo "$GATEWAY_PID" >"$STATE/gateway.pid"
wait_port "$HTTP_PORT" 30 || die "the gateway did not start on port $HTTP_PORT"

cat >&2 <<MSG

  Parley is serving on $PARLEY_URL  (OpenAPI: $PARLEY_URL/openapi.yaml)
  Settings: .local/stack.env     Logs: JSON on this terminal     Stop: Ctrl-C
  Browsers: pages on $PARLEY_CORS_ORIGINS may call it (CORS)

  In another terminal:
    . .local/stack.env
    curl -s \$PARLEY_URL/health
    TOKEN=\$(target/debug/parley-local token)
    curl -s -H "authorization: Bearer \$TOKEN" \$PARLEY_URL/v1/sessions/me
    target/debug/parley-local stripe pay <checkout session id>   # pay in the local Stripe
    # SMS: the local Twilio's code is always 123456; see README "SMS"

MSG
wait "$GATEWAY_PID"
