"""The evaluation engine: plans a suite, runs it asynchronously, stores every result."""

from .plan import Arm, Plan, RunOptions, build_plan, parse_filter
from .runner import Run, resume, run

__all__ = ["Arm", "Plan", "Run", "RunOptions", "build_plan", "parse_filter", "resume", "run"]
