"""Mock versions of the insurer's APIs and of the external systems they call.

Each service runs as its own process (`python -m mocks serve --config PATH`),
built from the shared core in mocks.core and one module in mocks.services.
The harness reaches the mocks only over HTTP.
"""
