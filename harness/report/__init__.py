"""Run output: the journal of events, and the reports made from it."""
