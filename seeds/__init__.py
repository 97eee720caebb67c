"""Sample articles newsqa serves on first run (this marker makes the folder installable)."""
