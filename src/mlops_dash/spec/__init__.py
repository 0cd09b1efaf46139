"""Spec models, the YAML loader and the cross-file checks."""
