"""Running the design: the budget, the prepared design, blocks in parallel, the main job and its pieces."""
