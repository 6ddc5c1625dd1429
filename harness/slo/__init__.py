"""Service-level objectives: specs, burn-rate rules, their tests and export."""
