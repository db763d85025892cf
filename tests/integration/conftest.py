"""Fixtures of the integration tests: the `guestwork` command line run by subprocess on a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def guestwork(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "GUESTWORK_FROZEN_TIME": "2026-11-23T09:00:00+07:00"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        return result

    return run
