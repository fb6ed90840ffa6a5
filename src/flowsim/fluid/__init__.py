"""The fluid engine: rates and backlogs in time steps instead of messages (see docs/fluid.md)."""

from flowsim.fluid.engine import FluidModel, run_fluid_replication
from flowsim.fluid.support import choose_step, fluid_problems

__all__ = ["FluidModel", "choose_step", "fluid_problems", "run_fluid_replication"]
