"""moto's server with requests handled one at a time.

DynamoDB applies a conditional write atomically per item; moto's threaded server does not
(two concurrent conditional updates can both pass their condition). Parley's rate limiter,
idempotency records and circuit breaker rely on that atomicity, so the local emulator
serializes requests behind one lock. Connections stay threaded (keep-alive is fine).

Usage: python moto_serial.py --port PORT   (binds 127.0.0.1)
"""

import argparse
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

    def serialized(environ, start_response):
        with lock:
            # Materialise the response inside the lock: the backend works while iterating.
            return list(backend(environ, start_response))

    run_simple("127.0.0.1", args.port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
