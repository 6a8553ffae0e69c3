"""Running designs: the prepared design (simulate.run.prepared)."""
