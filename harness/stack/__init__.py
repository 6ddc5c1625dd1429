"""Bringing the estate up and down."""
