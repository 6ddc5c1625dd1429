"""Experiments: schema, runner, verdicts."""
