#!/usr/bin/env bash
# Both CloudFormation templates through cfn-lint (with the cfn-lint-serverless rules) and
# checkov, with zero findings allowed. A finding that is wrong for this design is
# suppressed inline, in the template's Metadata, with its reason - never here.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv

for t in infra/template.yaml infra/data.yaml; do
  "$VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- "$t"
  # checkov: CloudFormation checks only, nothing downloaded from its platform.
  "$VENV/bin/checkov" --quiet --compact --framework cloudformation --skip-download -f "$t" >"$LOCAL/checkov.out" 2>&1 \
  || { cat "$LOCAL/checkov.out" >&2; die "checkov found problems in $t"; }
  say "$t: cfn-lint, cfn-lint-serverless and checkov clean ($(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$LOCAL/checkov.out" || echo 'no checkov summary'))"
done
