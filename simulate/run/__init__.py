"""Running the design: the budget, blocks in parallel, tallies, power, sample size and sweeps."""
