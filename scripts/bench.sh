#!/usr/bin/env bash
# `make bench`: the performance budget (design brief §6) on release binaries, against an
# ephemeral stack of its own, written to docs/performance.md (no number in it is typed by
# hand). Not part of `make test`: it builds every function in release twice (x86_64 to run,
# arm64 for the sizes that ship).
#   1. every function built for x86_64, release (the binaries the bench runs);
#   2. every function built for arm64 by cargo-lambda with zig, as `make package` does, for
#      the sizes that ship (PARLEY_BENCH_ARM64=0 skips it);
#   3. the stack (PostgreSQL, moto, the Stripe and Twilio stubs), then tools/bench, which
#      also runs the release gateway (`parley-local serve`) for the end-to-end section;
#   4. docs/performance.md rewritten from the run, and the cost model block of
#      docs/scaling.md (PARLEY_BENCH_E2E=0 skips the end-to-end run and leaves it as it is).
# PARLEY_BENCH_ARM64_FROM=<checkout> takes the arm64 sizes from the `make package` output of
# another checkout (its target/lambda) instead of building them again — the report names
# that checkout's commit beside this run's.
# PARLEY_BENCH_FUNCTIONS="health cart-get" measures only those (plus the three floor
# functions and the two jobs the growth section runs) — a quicker, partial report that says
# it is partial. PARLEY_BENCH_GROWTH=0 skips the growth section (it seeds a million messages).
set -euo pipefail
STARTED=$SECONDS
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
# Whether this run starts from nothing built (a clean clone): the 40-minute goal's case.
if [ -d "${CARGO_TARGET_DIR:-$ROOT/target}" ]; then PARLEY_BENCH_CLEAN=0; else PARLEY_BENCH_CLEAN=1; fi
export PARLEY_BENCH_CLEAN

ensure_postgres
# The Python tools (moto for the stack; cargo-lambda and zig for the arm64 build) install
# while the x86_64 build runs: pip is mostly download and unpacking, and on a clean clone
# that is minutes the build need not wait for.
PKG_VENV="$LOCAL/venv-package"
mkdir -p "$LOCAL"
VENVS_LOG="$LOCAL/bench-venvs.log"
(
  ensure_venv
  if [ -z "${PARLEY_BENCH_ARM64_FROM:-}" ] && [ "${PARLEY_BENCH_ARM64:-1}" != 0 ]; then
    ensure_venv "$PKG_VENV" "$ROOT/infra/requirements-package.txt"
  fi
) >"$VENVS_LOG" 2>&1 &
VENVS_PID=$!
trap 'kill "$VENVS_PID" 2>/dev/null || true' EXIT
venvs_ready() {
  [ -z "$VENVS_PID" ] && return
  wait "$VENVS_PID" || { cat "$VENVS_LOG" >&2; die "installing the Python tools failed (above)"; }
  cat "$VENVS_LOG"
  VENVS_PID=""
}

functions=()
if [ -n "${PARLEY_BENCH_FUNCTIONS:-}" ]; then
  read -r -a functions <<<"session-me session-anonymous chat-history verify-chains sweep-expired $PARLEY_BENCH_FUNCTIONS"
  export PARLEY_BENCH_FUNCTIONS="${functions[*]}"
else
  for d in functions/*/; do functions+=("$(basename "$d")"); done
fi

split_by_stripe "${functions[@]}"
say "building ${#functions[@]} functions for x86_64, release"
# The x86_64 builds keep their symbols, so the size of each can be split by crate below
# (what `cargo bloat --crates` reports; it would rebuild every function on its own). The
# zipped sizes are of stripped copies, and arm64 is built exactly as shipped.
# `--target` the host explicitly, as cargo-lambda does for arm64: then both builds put their
# build scripts and proc macros in the same place and the arm64 build reuses them.
HOST=$(rustc -vV | sed -n 's/^host: //p')
PHASE_STARTED=$SECONDS
export CARGO_PROFILE_RELEASE_STRIP=false
cargo build --release --target "$HOST" "${PLAIN[@]}" -p parley-bench
# parley-local links every handler, Stripe's included: it builds with the Stripe functions.
# Its release build serves the end-to-end run and also prepares the stack.
cargo build --release --target "$HOST" "${STRIPE[@]}" -p parley-local
unset CARGO_PROFILE_RELEASE_STRIP
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/$HOST/release"
# How long each build took, for the report's header (PARLEY_BENCH_PHASES: name=seconds).
PHASES="x86_64_build=$((SECONDS - PHASE_STARTED))"

# Where the arm64 bootstraps are read from; none when they are neither built nor borrowed.
ARM_DIR=""
if [ -n "${PARLEY_BENCH_ARM64_FROM:-}" ]; then
  ARM_DIR="$PARLEY_BENCH_ARM64_FROM/target/lambda"
  [ -d "$ARM_DIR" ] || die "PARLEY_BENCH_ARM64_FROM: no $ARM_DIR (run make package there first)"
  export PARLEY_BENCH_ARM64_COMMIT="$(git -C "$PARLEY_BENCH_ARM64_FROM" rev-parse --short HEAD)"
  say "arm64 sizes from $ARM_DIR (commit $PARLEY_BENCH_ARM64_COMMIT)"
elif [ "${PARLEY_BENCH_ARM64:-1}" != 0 ]; then
  venvs_ready
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
  fi
  say "building ${#functions[@]} functions for arm64 with cargo-lambda (what ships)"
  PHASE_STARTED=$SECONDS
  PATH="$PKG_VENV/bin:$PATH" cargo lambda build --release --arm64 "${PLAIN[@]}"
  if [ ${#STRIPE[@]} -gt 0 ]; then PATH="$PKG_VENV/bin:$PATH" cargo lambda build --release --arm64 "${STRIPE[@]}"; fi
  ARM_DIR="$TARGET/lambda"
  PHASES+=" arm64_build=$((SECONDS - PHASE_STARTED))"
fi

SIZES="$LOCAL/bench-sizes.tsv"
BLOAT="$LOCAL/bench-bloat.tsv"
# The zipped sizes and the split by crate: CPU work on the binaries, run while the stack
# starts (below), which mostly waits.
binary_reports() {
python3 - "$BIN" "$ARM_DIR" "$SIZES" "${functions[@]}" <<'PY'
import io, os, subprocess, sys, zipfile
bin_dir, arm_dir, out, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def zipped(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue())
def stripped(path):
    copy = out + ".stripped"
    subprocess.run(["strip", "-o", copy, path], check=True)
    return copy
with open(out, "w") as f:
    for n in names:
        arm = os.path.join(arm_dir, n, "bootstrap")
        arm_size = str(zipped(arm)) if arm_dir and os.path.exists(arm) else "-"
        f.write(f"{n}\t{zipped(stripped(os.path.join(bin_dir, n)))}\t{arm_size}\n")
PY

# Which crates each binary's code comes from: every function symbol's size (nm), demangled,
# credited to the crate its path starts with (`<T as Trait>` to T's crate), as
# `cargo bloat --crates` does. Inlined code counts for the crate it was inlined into.
python3 - "$BIN" "$BLOAT" "${functions[@]}" <<'PY'
import collections, re, subprocess, sys
bin_dir, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "w") as f:
    for n in names:
        nm = subprocess.run(["nm", "-S", "-C", "--defined-only", f"{bin_dir}/{n}"],
                            capture_output=True, text=True, check=True).stdout
        crates, total = collections.Counter(), 0
        for line in nm.splitlines():
            parts = line.split(" ", 3)
            if len(parts) < 4 or parts[2] not in "tT":
                continue
            size, name = int(parts[1], 16), parts[3]
            m = re.match(r"<*&?(?:mut )?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)::", name)
            crate = m.group(1) if m else ("[C/assembly]" if "::" not in name else "[other]")
            crates[crate] += size
            total += size
        top = ",".join(f"{c}:{s}" for c, s in crates.most_common(4))
        f.write(f"{n}\t{total}\t{top}\n")
PY

}
binary_reports &
BINARY_REPORTS_PID=$!
venvs_ready

ephemeral_stack_up bench "$BIN/parley-local"
HTTP_PORT=$(free_port)
echo "export PARLEY_PUBLIC_URL=http://127.0.0.1:$HTTP_PORT" >>"$STATE/stack.env"
twilio_stub_start "$BIN/parley-local" "$STATE" "$STATE/stack.env"
. "$STATE/stack.env"
export PARLEY_BENCH_BIN_DIR="$BIN" PARLEY_BENCH_SIZES="$SIZES" PARLEY_BENCH_BLOAT="$BLOAT" PARLEY_ROOT="$ROOT"
export PARLEY_BENCH_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/performance.md' || echo ' (with uncommitted changes)')"
# Thousands of sessions and messages come from 127.0.0.1 as one user: keep the limits
# (still checked, so their DynamoDB calls are measured) from refusing them.
export PARLEY_SESSION_RATE_LIMIT=100000000/60s PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT=100000000/60s
export PARLEY_CHAT_RATE_LIMIT_USER=100000000/60s PARLEY_CHAT_RATE_LIMIT_ANONYMOUS=100000000/60s
export PARLEY_TONE_RATE_LIMIT=100000000/60s PARLEY_SIGN_RATE_LIMIT=100000000/60s

wait "$BINARY_REPORTS_PID" || die "measuring the binaries' sizes failed (above)"
say "measuring"
# How long the builds and the stack took, for the report's header (the 40-minute goal).
export PARLEY_BENCH_SETUP_SECONDS=$((SECONDS - STARTED)) PARLEY_BENCH_PHASES="$PHASES"
"$BIN/parley-bench" >"$LOCAL/performance.md"
mv "$LOCAL/performance.md" docs/performance.md
say "wrote docs/performance.md"
