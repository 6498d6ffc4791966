"""Observability: Prometheus metrics, request ids and structured (JSON) logs.

`metrics` holds every metric definition and the one-line helpers the rest of
the code calls; `logs` the request-id context and the log formatters; `http`
the aiohttp middleware and the `/metrics` handler.
"""
