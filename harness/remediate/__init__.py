"""Runbooks, and the controller that runs them when alerts fire."""
