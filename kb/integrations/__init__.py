"""Thin adapters from kb's client to other frameworks (optional extras)."""
