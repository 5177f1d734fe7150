"""Kubernetes fixers. FIXERS: hand-written fixers; FAMILIES: (claims(meta), fixer) pairs."""
from fixers.kubernetes import capabilities, container_security, control_plane_flags, pod_security, probes, resources

FIXERS: list = [
    *container_security.FIXERS,
    *pod_security.FIXERS,
    *capabilities.FIXERS,
    *resources.FIXERS,
    *probes.FIXERS,
    *control_plane_flags.FIXERS,
]
# The control-plane flag fixer is table-driven but declares its rule ids, so it is listed above.
FAMILIES: list = []
