#!/usr/bin/env bash
# `make test`: every test in the workspace against a stack of its own - a fresh
# PostgreSQL cluster, moto and the local gateway, each on a free port - torn down even
# when tests fail. Also lints both templates (cfn-lint with the serverless rules, checkov:
# zero findings; every suppression is inline in the template with its reason) and checks
# formatting. Exits non-zero on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_postgres
ensure_venv
ensure_nextest
ensure_chromium
ensure_browser_driver
# The tests rely on the default browser origins (tests/tests/browser.rs): ignore the shell's.
unset PARLEY_CORS_ORIGINS

say "lint: infra/template.yaml, infra/data.yaml"
bash scripts/lint-templates.sh

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

say "release builds: both cargo commands share every dependency's build"
check_release_features

say "building"
cargo build --workspace --bins
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/debug/parley-local"

ephemeral_stack_up test "$BIN"
# The concurrency test posts 200 messages as one user at once; the rate-limit test uses
# anonymous callers, whose default limit stays in force.
echo "export PARLEY_CHAT_RATE_LIMIT_USER=100000/60s" >>"$STATE/stack.env"
# Every test's anonymous session comes from 127.0.0.1; the per-address limits' real
# defaults are tested in-process (tests/tests/hardening_limits.rs) with their own addresses.
echo "export PARLEY_SESSION_RATE_LIMIT=100000/60s PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT=100000/60s" >>"$STATE/stack.env"
# Twilio calls the gateway back (status callbacks) and signs over its public URL, so the
# gateway's port is chosen before anything starts.
HTTP_PORT=$(free_port)
echo "export PARLEY_PUBLIC_URL=http://127.0.0.1:$HTTP_PORT" >>"$STATE/stack.env"
twilio_stub_start "$BIN" "$STATE" "$STATE/stack.env"
. "$STATE/stack.env"

# At info whatever the shell says: the log audit below needs every request's access line.
PARLEY_LOG=info "$BIN" serve --addr "127.0.0.1:$HTTP_PORT" --port-file "$STATE/http.port" >"$STATE/gateway.log" 2>&1 &
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

# The calendar passes: the date-dependent tests against a gateway that treats the next 26
# December and then the next 29 February as today (PARLEY_TODAY), so a test that only passes
# for part of the year fails here on any day. The tests derive their dates from the same
# setting. They run before the main run, whose summary closes the output.
for day in $(python3 - <<'PY'
import datetime as d
t = d.date.today()
boxing = d.date(t.year if t <= d.date(t.year, 12, 26) else t.year + 1, 12, 26)
year = t.year
while True:
    try:
        leap = d.date(year, 2, 29)
        if leap >= t:
            break
    except ValueError:
        pass
    year += 1
print(boxing, leap)
PY
); do
  say "calendar pass: the date-dependent tests as if today were $day"
  rm -f "$STATE/http-$day.port"
  PARLEY_TODAY=$day "$BIN" serve --addr 127.0.0.1:0 --port-file "$STATE/http-$day.port" >"$STATE/gateway-$day.log" 2>&1 &
  CAL_PID=$!
  echo "$CAL_PID" >"$STATE/gateway-calendar.pid"
  for _ in $(seq 1 300); do [ -s "$STATE/http-$day.port" ] && break; sleep 0.1; done
  [ -s "$STATE/http-$day.port" ] || die "the calendar gateway did not start: $(tail -n 5 "$STATE/gateway-$day.log")"
  status=0
  PARLEY_TODAY=$day PARLEY_URL="http://127.0.0.1:$(cat "$STATE/http-$day.port")" \
    cargo nextest run -p parley-e2e -p shared --no-fail-fast \
    -E 'binary(quotes_cart) | test(sweep_expires_lapsed_quotes) | test(/commerce::/)' || status=$?
  kill "$CAL_PID" 2>/dev/null || true
  wait "$CAL_PID" 2>/dev/null || true
  [ "$status" -eq 0 ] || exit "$status"
done

say "running the tests"
cargo nextest run --workspace --no-fail-fast -E 'not binary(log_audit)'

# The API contract, proven by a fuzzer: Schemathesis generates requests from
# infra/openapi.yaml and runs every check (schema conformance, status codes, no 5xx,
# valid data accepted, invalid data refused) - once as a signed-in user and once as an
# anonymous session, each a fresh identity of its own. It runs last, after the tests, so
# its traffic (and the rate limits it spends) cannot disturb them. Bounded: 20 examples
# per operation, deterministic generation, and 10 minutes at most. The Stripe webhook is left
# out: no generated request carries a valid Stripe signature, so every one is the documented
# 400; its contract is tested with real signatures in tests/tests/payments_webhook.rs.
fuzz() {
  local who=$1 log="$STATE/schemathesis-$1.log"; shift
  if ! NO_COLOR=1 timeout 600 "$VENV/bin/schemathesis" --config-file infra/schemathesis.toml run \
      "$PARLEY_URL/openapi.yaml" --url "$PARLEY_URL" --checks all --max-examples 20 \
      --phases examples,coverage,fuzzing --generation-deterministic \
      --exclude-path /webhooks/stripe "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "Schemathesis found failures (or ran out of time) as $who"
  fi
  printf 'schemathesis as %s: %s operations, %s\n' "$who" \
    "$(grep -m1 -oE 'Tested: [0-9]+' "$log" | grep -oE '[0-9]+')" \
    "$(grep -m1 -oE '[0-9]+ generated, [0-9]+ passed' "$log")" >&2
}
say "fuzzing the API contract (Schemathesis)"
fuzz user -H "Authorization: Bearer $("$BIN" token)"
ANON_TOKEN=$(python3 -c 'import json,sys,urllib.request as u; print(json.load(u.urlopen(u.Request(sys.argv[1] + "/v1/sessions/anonymous", method="POST")))["token"])' "$PARLEY_URL")
fuzz anonymous -H "x-anonymous-session: $ANON_TOKEN"

# Last, when every request of the suite and the fuzzer has been logged.
say "auditing every log line of the suite"
cargo nextest run -p parley-e2e --test log_audit --no-fail-fast
