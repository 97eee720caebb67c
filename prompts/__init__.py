"""Prompt templates as data files (TOML), shipped with the package and loaded by name."""
