"""Node kinds: one module each, registered in `flowsim.nodes.registry`."""
