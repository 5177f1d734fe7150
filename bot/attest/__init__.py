"""Signed statements about what iacbot did: DSSE envelopes over in-toto statements, and keys."""
