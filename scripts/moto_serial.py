"""moto's server with requests handled one at a time.

DynamoDB applies a conditional write atomically per item; moto's threaded server does not
(two concurrent conditional updates can both pass their condition). Parley's rate limiter,
idempotency records and circuit breaker rely on that atomicity, so the local emulator
serializes requests behind one lock. Connections stay threaded; Werkzeug's server closes
each after its answer, so every call opens one (little next to moto's own work per call).

It also counts the calls it serves by operation (the `X-Amz-Target` header, e.g.
`DynamoDB_20120810.UpdateItem`, `TrentService.Decrypt`): `GET /_parley/calls` answers them
as JSON. `make bench` reads the counts before and after each load run, so AWS calls per
request in docs/scaling.md's cost model are measured, not assumed.

Usage: python moto_serial.py --port PORT   (binds 127.0.0.1)
"""

import argparse
import collections
import json
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    calls: collections.Counter = collections.Counter()

    def serialized(environ, start_response):
        if environ.get("PATH_INFO") == "/_parley/calls" and environ.get("REQUEST_METHOD") == "GET":
            with lock:
                body = json.dumps(dict(calls)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        with lock:
            target = environ.get("HTTP_X_AMZ_TARGET")
            if target:
                calls[target] += 1
            # Materialise the response inside the lock: the backend works while iterating.
            return list(backend(environ, start_response))

    run_simple("127.0.0.1", args.port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
