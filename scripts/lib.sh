# shellcheck shell=bash
# Shared by scripts/up.sh (make up) and scripts/test.sh (make test): install what is
# missing, start and stop a throwaway PostgreSQL cluster and the moto AWS emulator, and
# write the stack's environment file. Nothing here needs an AWS account or the internet
# beyond the package registries.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
mkdir -p "$LOCAL"

# Local-only identity secrets. They sign tokens for a stack bound to 127.0.0.1 and are
# refused nowhere only because nothing outside this machine trusts them. Never deploy them.
LOCAL_JWT_SECRET="local-only-user-jwt-secret-never-deploy-0001"
LOCAL_ANON_SECRET="local-only-anonymous-secret-never-deploy-0001"
# Local-only Stripe settings: the stub accepts any sk_ key; the webhook secret signs the
# events `parley-local stripe pay` delivers (tools/generate-events.py uses the same).
LOCAL_STRIPE_SECRET_KEY="sk_test_local_only_never_deploy"
LOCAL_STRIPE_WEBHOOK_SECRET="whsec_local_only_never_deploy_0001"
LOCAL_JWT_ISSUER="http://127.0.0.1/parley-local"
LOCAL_JWT_AUDIENCE="parley-local"
# Role passwords of the throwaway cluster (it listens on 127.0.0.1 only).
PG_SUPER_PASSWORD="postgres-local"
PG_APP_PASSWORD="parley-app-local"
PG_SERVICE_PASSWORD="parley-service-local"
# The local Twilio stub's account (tools/local/src/twilio_stub.rs); webhooks are verified
# with this token, as Twilio's are with the real one.
LOCAL_TWILIO_ACCOUNT_SID="AC0000000000000000000000000000loc"
LOCAL_TWILIO_AUTH_TOKEN="local-only-twilio-auth-token-never-deploy"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"; fi
}

# --- PostgreSQL -----------------------------------------------------------------------

find_pg_bin() {
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && command -v postgres >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

ensure_postgres() {
  PG_BIN=$(find_pg_bin || true)
  if [ -z "$PG_BIN" ]; then
    if command -v apt-get >/dev/null; then
      say "installing PostgreSQL server from Debian packages"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client
      PG_BIN=$(find_pg_bin || true)
    else
      die "PostgreSQL server not found and apt-get is unavailable: install PostgreSQL 14 or newer (pg_ctl, initdb, postgres, psql) and re-run"
    fi
  fi
  [ -n "$PG_BIN" ] || die "PostgreSQL was installed but pg_ctl is not on PATH nor in /usr/lib/postgresql/*/bin"
  PSQL="$PG_BIN/psql"
  [ -x "$PSQL" ] || PSQL=$(command -v psql) || die "psql not found"
}

# PostgreSQL refuses to run as root; as root we run it as the 'postgres' user.
pg_run() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || as_root useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_data_dir NAME: a data directory the server's user can reach; under .local/ when it
# can, else (a checkout under a private home directory, as root) under /tmp.
pg_data_dir() {
  local dir="$LOCAL/$1"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$LOCAL" 2>/dev/null; then
    dir="/tmp/parley-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)/$1"
  fi
  echo "$dir"
}

# pg_start DATA_DIR PORT: creates the cluster on first use, then starts it.
pg_start() {
  local data=$1 port=$2
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres "$data" && chmod 700 "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a throwaway PostgreSQL cluster in $data"
    local pwfile; pwfile=$(mktemp)
    printf '%s\n' "$PG_SUPER_PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
    pg_run "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 \
      || { rm -f "$pwfile"; cat "$data.initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
  fi
  # A throwaway cluster: durability off for speed; loopback only.
  pg_run "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { tail -n 20 "$data/server.log" >&2; die "PostgreSQL did not start on port $port"; }
  PG_DATA=$data PG_PORT=$port
  pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'" | grep -q 1 \
    || pg_psql -d postgres -c "CREATE DATABASE parley" >/dev/null
}

pg_psql() { pg_run "$PSQL" -h "$PG_DATA" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }

pg_stop() {
  local data=$1
  [ -f "$data/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# Gives the migration-created roles a login on the local cluster.
pg_enable_logins() {
  pg_psql -d parley -c "ALTER ROLE parley_app WITH LOGIN PASSWORD '$PG_APP_PASSWORD'" \
    -c "ALTER ROLE parley_service WITH LOGIN PASSWORD '$PG_SERVICE_PASSWORD'" >/dev/null
}

# --- moto (KMS, DynamoDB) and Python tools ---------------------------------------------

# ensure_venv [DIR REQUIREMENTS]: a venv with exactly the pinned requirements, rebuilt when
# the file changes. Default: .local/venv from infra/requirements-local.txt (moto, cfn-lint,
# cfn-lint-serverless, checkov). `make package` uses a second one (infra/requirements-
# package.txt: aws-sam-cli, cargo-lambda, ziglang) because aws-sam-cli pins a boto3 that
# moto and checkov cannot share.
ensure_venv() {
  local venv=${1:-$VENV} req=${2:-$ROOT/infra/requirements-local.txt}
  local stamp="$venv/.requirements.sha256"
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  command -v python3 >/dev/null || { command -v apt-get >/dev/null && as_root apt-get install -y -q python3 python3-venv; } \
    || die "python3 is required: install Python 3.9+ with the venv module"
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    command -v apt-get >/dev/null || die "python3's venv module is missing: install python3-venv"
    say "installing python3-venv from Debian packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
  fi
  say "installing $(basename "$req") into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # --no-compile: pip would byte-compile every module of every package (most of its CPU
  # time, and most of these modules are never imported); Python compiles what it imports.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-compile -r "$req"
  echo "$want" > "$stamp"
}

# moto_start PORT LOGFILE: the emulator for KMS and DynamoDB on loopback, serving one
# request at a time so conditional writes are atomic, as in DynamoDB (scripts/moto_serial.py).
moto_start() {
  local port=$1 log=$2
  "$VENV/bin/python" "$ROOT/scripts/moto_serial.py" --port "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  wait_port "$port" 30 || { tail -n 20 "$log" >&2; die "moto did not start on port $port"; }
}

# --- Rust tools ---------------------------------------------------------------------

ensure_nextest() {
  cargo nextest --version >/dev/null 2>&1 && return
  say "installing cargo-nextest from crates.io"
  cargo install --locked cargo-nextest
}

# --- the browser test (tests/tests/browser.rs) ------------------------------------------

# Debian's Chromium, installed like PostgreSQL when it is absent. Playwright drives it and
# never downloads a browser of its own. PARLEY_CHROMIUM points elsewhere if you have one.
ensure_chromium() {
  local chromium=${PARLEY_CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] && return
  command -v apt-get >/dev/null \
    || die "Chromium not found at $chromium and apt-get is unavailable: install Chromium and set PARLEY_CHROMIUM to it"
  say "installing Chromium from Debian packages (for the browser test)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  [ -x "$chromium" ] || die "Chromium was installed but $chromium does not exist: set PARLEY_CHROMIUM"
}

# Node and tests/browser's pinned npm packages (playwright-core), installed with `npm ci`
# from package-lock.json whenever the lock file changes. Scripts stay off: nothing is
# downloaded beyond the registry's packages.
ensure_browser_driver() {
  local dir="$ROOT/tests/browser"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    command -v apt-get >/dev/null || die "node and npm are required for the browser test: install Node.js 18 or newer"
    say "installing Node.js and npm from Debian packages (for the browser test)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
  fi
  local stamp="$dir/node_modules/.parley-lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return
  say "installing tests/browser's npm packages (npm ci)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || die "npm ci failed in tests/browser"
  echo "$want" >"$stamp"
}

# --- helpers ----------------------------------------------------------------------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT SECONDS
wait_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

kill_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# Any front-end dev server on this machine, whatever its port; PARLEY_CORS_ORIGINS set
# before `make up` replaces it (a comma-separated list).
LOCAL_CORS_ORIGINS="http://localhost:*,http://127.0.0.1:*"

# write_env FILE HTTP_PORT MOTO_PORT: the stack's settings, shell-sourceable.
write_env() {
  local file=$1 http_port=$2 moto_port=$3
  local CORS_ORIGINS=${PARLEY_CORS_ORIGINS:-$LOCAL_CORS_ORIGINS}
  case $CORS_ORIGINS in *\'*) die "PARLEY_CORS_ORIGINS must not contain a quote" ;; esac
  local db="127.0.0.1:$PG_PORT/parley"
  cat >"$file" <<ENV
# Parley local stack - generated by scripts/lib.sh; source it: . $file
export PARLEY_URL=http://127.0.0.1:$http_port
export DATABASE_URL=postgres://parley_app:$PG_APP_PASSWORD@$db
export PARLEY_DATABASE_URL=postgres://parley_app:$PG_APP_PASSWORD@$db
export PARLEY_SERVICE_DATABASE_URL=postgres://parley_service:$PG_SERVICE_PASSWORD@$db
export PARLEY_MIGRATE_DATABASE_URL=postgres://postgres:$PG_SUPER_PASSWORD@$db
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export PARLEY_JWT_SECRET=$LOCAL_JWT_SECRET
export PARLEY_JWT_ISSUER=$LOCAL_JWT_ISSUER
export PARLEY_JWT_AUDIENCE=$LOCAL_JWT_AUDIENCE
export PARLEY_ANON_TOKEN_SECRET=$LOCAL_ANON_SECRET
# Browser origins allowed to call the stack (replaces the template's CorsOrigins). The port
# wildcard is local only: a deployed stage lists exact origins.
export PARLEY_CORS_ORIGINS='$CORS_ORIGINS'
export PARLEY_LOG=\${PARLEY_LOG:-info}
export PARLEY_STRIPE_SECRET_KEY=$LOCAL_STRIPE_SECRET_KEY
export STRIPE_WEBHOOK_SECRET=$LOCAL_STRIPE_WEBHOOK_SECRET
export PARLEY_STRIPE_WEBHOOK_SECRETS=$LOCAL_STRIPE_WEBHOOK_SECRET
export PARLEY_CHECKOUT_SUCCESS_URL=http://127.0.0.1:$http_port/checkout/success
export PARLEY_CHECKOUT_CANCEL_URL=http://127.0.0.1:$http_port/checkout/cancel
export PARLEY_STRIPE_PLANS=plus:price_local_plus,pro:price_local_pro
export PARLEY_CHAT_RATE_LIMIT_TIERS=plus:120/60s,pro:600/60s
export PARLEY_BILLING_RETURN_URL=http://127.0.0.1:$http_port/account
export PARLEY_PUBLIC_URL=http://127.0.0.1:$http_port
export TWILIO_ACCOUNT_SID=$LOCAL_TWILIO_ACCOUNT_SID
export TWILIO_AUTH_TOKEN=$LOCAL_TWILIO_AUTH_TOKEN
export TWILIO_VERIFY_SERVICE_SID=VA0000000000000000000000000000loc
export TWILIO_FROM=+15005550006
ENV
}

# stripe_stub_start BIN PORT STATE_DIR ENV_FILE: the local Stripe (parley-local stripe-stub)
# on loopback; its base URL goes into the stack's environment file.
stripe_stub_start() {
  local bin=$1 port=$2 dir=$3 file=$4
  "$bin" stripe-stub --addr "127.0.0.1:$port" >"$dir/stripe.log" 2>&1 &
  echo $! >"$dir/stripe.pid"
  wait_port "$port" 30 || { tail -n 20 "$dir/stripe.log" >&2; die "the Stripe stub did not start on port $port"; }
  echo "export PARLEY_STRIPE_API_BASE=http://127.0.0.1:$port" >>"$file"
}

# twilio_stub_start BIN DIR ENV_FILE: the local Twilio on a free port; its base URLs are
# appended to ENV_FILE. Its pid goes to DIR/twilio.pid.
twilio_stub_start() {
  local bin=$1 dir=$2 file=$3
  rm -f "$dir/twilio.port"
  TWILIO_ACCOUNT_SID=$LOCAL_TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN=$LOCAL_TWILIO_AUTH_TOKEN \
    "$bin" twilio-stub --addr 127.0.0.1:0 --port-file "$dir/twilio.port" >"$dir/twilio.log" 2>&1 &
  echo $! >"$dir/twilio.pid"
  local i
  for i in $(seq 1 100); do [ -s "$dir/twilio.port" ] && break; sleep 0.1; done
  [ -s "$dir/twilio.port" ] || die "the Twilio stub did not start: $(tail -n 5 "$dir/twilio.log")"
  local url="http://127.0.0.1:$(cat "$dir/twilio.port")"
  printf 'export TWILIO_API_BASE_URL=%s\nexport TWILIO_VERIFY_BASE_URL=%s\n' "$url" "$url" >>"$file"
}

# stack_prepare ENV_FILE: migrations, role logins, then the template's tables and keys.
stack_prepare() {
  local file=$1 bin=$2
  # shellcheck disable=SC1090
  . "$file"
  "$bin" migrate
  pg_enable_logins
  "$bin" provision | sed 's/^/export /' >>"$file"
  # shellcheck disable=SC1090
  . "$file"
}

# ephemeral_stack_up NAME BIN: a fresh PostgreSQL cluster and moto on free ports, migrated
# and provisioned, torn down (with its files) when the script exits. Sets STATE (the stack's
# folder, holding stack.env and logs).
ephemeral_stack_up() {
  STATE=$(mktemp -d "$LOCAL/$1.XXXXXX")
  PG_DIR=$(pg_data_dir "$(basename "$STATE")-pg")
  trap ephemeral_stack_down EXIT
  trap 'exit 130' INT TERM
  say "starting an ephemeral stack"
  pg_start "$PG_DIR" "$(free_port)"
  local moto_port; moto_port=$(free_port)
  moto_start "$moto_port" "$STATE/moto.log"
  echo "$MOTO_PID" >"$STATE/moto.pid"
  write_env "$STATE/stack.env" 0 "$moto_port"
  stripe_stub_start "$2" "$(free_port)" "$STATE" "$STATE/stack.env"
  stack_prepare "$STATE/stack.env" "$2"
}

ephemeral_stack_down() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -f "$STATE/gateway.log" ]; then
    say "last gateway log lines"; tail -n 30 "$STATE/gateway.log" >&2 || true
  fi
  local pidfile
  for pidfile in "$STATE"/gateway*.pid; do kill_pidfile "$pidfile"; done
  kill_pidfile "$STATE/twilio.pid"
  kill_pidfile "$STATE/stripe.pid"
  kill_pidfile "$STATE/moto.pid"
  pg_stop "$PG_DIR"
  rm -rf "$STATE" "$PG_DIR"
  exit $rc
}

# Splits function names into -p arguments: PLAIN (no Stripe) and STRIPE (shared's `stripe`
# feature). Features unify within one cargo command, so the two groups are built in
# commands of their own, as `sam build` (one function at a time) ships them.
split_by_stripe() {
  PLAIN=() STRIPE=()
  local f
  for f in "$@"; do
    if grep -q 'features = \["stripe"\]' "$ROOT/functions/$f/Cargo.toml"; then STRIPE+=(-p "$f"); else PLAIN+=(-p "$f"); fi
  done
}

# The release builds run two cargo commands (split_by_stripe): without and with Stripe, for
# arm64 as shipped, and for x86_64 with the bench and the gateway. Each pair must ask the same
# features of every dependency both use; one that differs is built again in the second
# command, with everything that depends on it (the AWS SDK, for rustls), which doubles the
# build. Fails naming each such crate and its two feature lists.
check_release_features() {
  local fns=() d
  for d in "$ROOT"/functions/*/; do fns+=("$(basename "$d")"); done
  split_by_stripe "${fns[@]}"
  local differ
  local arm=(--target aarch64-unknown-linux-gnu)
  differ=$(feature_differences "$(features_of "${arm[@]}" "${PLAIN[@]}")" "$(features_of "${arm[@]}" "${STRIPE[@]}")")$'\n'
  differ+=$(feature_differences "$(features_of "${PLAIN[@]}" -p parley-bench)" "$(features_of "${STRIPE[@]}" -p parley-local)")
  if [ -n "${differ//[$'\n ']/}" ]; then
    echo "$differ" >&2
    die "dependencies built with different features by the two release commands (align them in the workspace Cargo.toml)"
  fi
}
features_of() {
  cargo tree -q -e normal,build --prefix none -f '{p} [{f}]' "$@" | sed 's/ (\*)$//; s/ (proc-macro)$//' | grep -v ' (/' | sort -u
}
feature_differences() {
  # A crate in both lists (host and target builds may each list it once) whose lines differ.
  local only
  only=$(comm -3 <(echo "$1") <(echo "$2") | sed 's/^\t//')
  comm -12 <(echo "$1" | cut -d' ' -f1,2 | sort -u) <(echo "$2" | cut -d' ' -f1,2 | sort -u) |
    while read -r name version; do grep -F "$name $version [" <<<"$only" | sed 's/^/  /' || true; done
}
