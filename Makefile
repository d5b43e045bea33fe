# The two commands a new machine needs (see README.md).
.PHONY: up test bench package

## up: run the whole stack locally and serve the API on 127.0.0.1:$${PARLEY_HTTP_PORT:-3000}
up:
	@bash scripts/up.sh

## test: run every test against an ephemeral stack of its own
test:
	@bash scripts/test.sh

## bench: the performance budget on release binaries (not part of `make test`; slow to build)
bench:
	@bash scripts/bench.sh

## package: every function built for arm64 (release) by cargo-lambda, then `sam build`; prints zipped sizes
package:
	@bash scripts/package.sh
