"""Imports every loader module so that each registers itself in CORPORA."""
