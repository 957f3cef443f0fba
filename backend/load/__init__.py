"""Load and soak runs: the API under a mixed load of simulated users (`python -m load.run`)."""
