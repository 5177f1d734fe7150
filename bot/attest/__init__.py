"""Signed statements about what iacbot did: DSSE envelopes over in-toto statements, and keys.

The package itself imports nothing (no cryptography), so the CLI can name the key files cheaply.
"""

#: The key pair `iacbot provenance keygen` writes.
PRIVATE_NAME, PUBLIC_NAME = "iacbot-signing.pem", "iacbot-signing.pub.pem"
