"""Renderers: pure functions from spec models to output data. No I/O here."""
