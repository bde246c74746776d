"""The vendor sandbox: a local HTTP server that plays every vendor for demos and end-to-end tests.

Families describe their fake endpoints in `<app>/sandbox.py` with `route(...)` (see routes.py);
the server discovers those modules at start-up, records every request it receives, and injects
faults on demand.
"""
