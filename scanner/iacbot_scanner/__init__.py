"""iacbot's checkov side: runs only in .venv-scanner, never imports the engine (bot/, fixers/)."""
