"""Per-machine plans: measure the variants of an artifact here (``tune``), pick the fastest that keeps
accuracy, and apply that choice only on the machine and artifact it was measured for."""

from __future__ import annotations

from .machine import machine_description, machine_key
from .plan import Plan, PlanRow, applicable, default_plan_path, read_plan, write_plan

__all__ = ["Plan", "PlanRow", "applicable", "default_plan_path", "machine_description", "machine_key", "read_plan",
           "write_plan"]
