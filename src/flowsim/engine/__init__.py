"""The simulation kernel: work items, node runtimes, routing, and the model that runs them."""
