"""Kubernetes fixers. FIXERS: hand-written fixers; FAMILIES: (claims(meta), fixer) pairs."""
FIXERS: list = []
FAMILIES: list = []
