# The two commands a new machine needs (see README.md).
.PHONY: up test

## up: run the whole stack locally and serve the API on 127.0.0.1:$${PARLEY_HTTP_PORT:-3000}
up:
	@bash scripts/up.sh

## test: run every test against an ephemeral stack of its own
test:
	@bash scripts/test.sh
