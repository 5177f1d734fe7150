"""iacbot's GitHub client: App installation tokens, PR text, and publishing a fix as a PR."""
