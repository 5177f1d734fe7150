"""Signed statements about what iacbot did: DSSE envelopes over in-toto statements, and keys.

The package itself imports nothing (no cryptography), so the CLI can name the key files cheaply.
"""

#: The key pair `iacbot provenance keygen` writes.
PRIVATE_NAME, PUBLIC_NAME = "iacbot-signing.pem", "iacbot-signing.pub.pem"

#: The fix commit's trailer naming its statement's change part (bot.attest.statement.change_digest),
#: and the merge commit's naming the merge-stage statement (docs/provenance.md, "The trailer").
STATEMENT_TRAILER, MERGE_STATEMENT_TRAILER = "Iacbot-Statement", "Iacbot-Merge-Statement"


def trailer_values(message: str | None, name: str = STATEMENT_TRAILER) -> list[str]:
    """The values of trailer ``name`` in a commit message's last paragraph (where git keeps trailers)."""
    last = (message or "").strip().split("\n\n")[-1]
    prefix = name.lower() + ":"
    return [line.split(":", 1)[1].strip() for line in last.splitlines() if line.lower().startswith(prefix)]
