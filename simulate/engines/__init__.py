"""The trial engines: des (simpy) and batch (numpy) turn the same fates into the same trials (:mod:`simulate.engines.blocks`); the story of one trial."""
