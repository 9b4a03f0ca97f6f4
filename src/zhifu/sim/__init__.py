"""The county simulator: a seeded digital twin of a county's payment life that drives the demo, tests and
benchmarks through the platform's own services."""

from zhifu.sim.engine import SimDay, SimParams, SimResult, Simulation, check_params, simulate

__all__ = ["SimDay", "SimParams", "SimResult", "Simulation", "check_params", "simulate"]
