"""Load the plan defaults (config/plans.toml) and the support caps (config/support.toml)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from workflows.plans import PlanDefaults, build_plan_defaults
from workflows.support import SupportPolicy, build_support_policy


@lru_cache(maxsize=4)
def load_plan_defaults(path: Path) -> PlanDefaults:
    """Return the default targets per unit kind and year."""
    return build_plan_defaults(tomllib.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=4)
def load_support(path: Path) -> SupportPolicy:
    """Return the support items and their caps."""
    return build_support_policy(tomllib.loads(path.read_text(encoding="utf-8")))
