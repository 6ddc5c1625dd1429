"""The shared core every mock service is built from.

app: the app factory; context: what one service holds while it runs;
metrics, dependencies, storage, seed, tracing, request_log: one concern each.
"""
