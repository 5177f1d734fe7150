"""The GitHub App service: webhook receiver, delivery dedup, event routing, health and metrics.

Only plain ids and small values leave this package (as Celery job descriptions); the worker
re-fetches everything else.
"""
