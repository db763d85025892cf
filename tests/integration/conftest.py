"""Fixtures of the integration tests: the `guestwork` command line on a fresh SQLite file.

`guestwork` runs a command in this process, as Typer's test runner does (the same Typer app, arguments, output and
exit code, without the second of imports a new interpreter pays); `guestwork_process` runs `python -m services.cli`
in a process of its own, for what only a real process shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.settings import get_settings
from services import cli

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ran:
    """What a command printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_env(tmp_path):
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "GUESTWORK_FROZEN_TIME": "2026-11-23T09:00:00+07:00"}


@pytest.fixture
def guestwork(cli_env):
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Ran:
        # Each command reads the settings and builds its runtime afresh, as a new process would.
        get_settings.cache_clear()
        cli.runtime.cache_clear()
        try:
            result = runner.invoke(cli.app, list(args), env=cli_env, catch_exceptions=False)
        finally:
            if cli.runtime.cache_info().currsize:
                cli.runtime().engine.dispose()
            cli.runtime.cache_clear()
            get_settings.cache_clear()
        ran = Ran(result.exit_code, result.stdout, result.stderr)
        assert (ran.returncode == 0) == ok, ran.stdout + ran.stderr
        return ran

    return run


@pytest.fixture
def guestwork_process(cli_env):
    env = {**os.environ, **cli_env}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        return result

    return run
