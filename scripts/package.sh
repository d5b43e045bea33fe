#!/usr/bin/env bash
# `make package`: what `sam deploy` uploads, built here without Docker or an AWS account.
#   1. aws-sam-cli, cargo-lambda and zig (ziglang) from PyPI into .local/venv-package,
#      pinned in infra/requirements-package.txt; the Rust target for aarch64 via rustup.
#   2. every function under functions/ built for arm64, release, by cargo-lambda
#      (target/lambda/<function>/bootstrap).
#   3. `sam build` of infra/template.yaml (BuildMethod rust-cargolambda, no beta flag from
#      SAM CLI 1.170): it reuses step 2's build and writes .aws-sam/build/.
#   4. each function's zipped bootstrap size, checked against the 8 MB budget (design §6).
# The dependencies are built once for both cargo commands (the features they get are the
# same: see the workspace Cargo.toml); each function then adds its own crate and link.
# Options: PACKAGE_FUNCTIONS="health migrate" builds only those (a quick check).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PKG_VENV="$LOCAL/venv-package"
ensure_venv "$PKG_VENV" "$ROOT/infra/requirements-package.txt"
export PATH="$PKG_VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0

if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  say "adding the Rust standard library for aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

if [ -n "${PACKAGE_FUNCTIONS:-}" ]; then
  read -r -a functions <<<"$PACKAGE_FUNCTIONS"
else
  functions=()
  for d in functions/*/; do functions+=("$(basename "$d")"); done
fi
split_by_stripe "${functions[@]}"

say "cargo lambda build --release --arm64: ${#functions[@]} function(s)"
if [ ${#PLAIN[@]} -gt 0 ]; then cargo lambda build --release --arm64 "${PLAIN[@]}"; fi
if [ ${#STRIPE[@]} -gt 0 ]; then cargo lambda build --release --arm64 "${STRIPE[@]}"; fi

# SAM's logical ids are the template's; map each function crate to its resource.
resources=$(python3 - "${functions[@]}" <<'PY'
import re, sys
text = open("infra/template.yaml").read()
wanted = set(sys.argv[1:])
for logical_id, crate in re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function\n(?:.*\n)*?      CodeUri: \.\./functions/([\w-]+)", text, re.M):
    if crate in wanted:
        print(logical_id)
PY
)
say "sam build (offline; reuses the release builds)"
if [ -n "${PACKAGE_FUNCTIONS:-}" ]; then
  for r in $resources; do sam build --template-file infra/template.yaml --build-dir .aws-sam/build "$r"; done
else
  sam build --template-file infra/template.yaml --build-dir .aws-sam/build
fi

say "zipped sizes (budget: 8 MB each)"
python3 - .aws-sam/build $resources <<'PY'
import io, os, sys, zipfile
root, over = sys.argv[1], []
for rid in sys.argv[2:]:
    path = os.path.join(root, rid, "bootstrap")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(path, "bootstrap")
    size = len(buf.getvalue()) / 1048576
    with open(path, "rb") as f:
        head = f.read(20)
    arch = "arm64" if head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183 else "NOT arm64"
    print(f"  {rid:32} {size:6.2f} MB  ({arch})")
    if size > 8 or arch != "arm64":
        over.append(rid)
if over:
    sys.exit(f"over budget or not arm64: {', '.join(over)}")
PY
