"""Real worker processes on a real broker: an SMTP server on loopback, a Celery worker started and killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_url

ROOT = Path(__file__).resolve().parents[2]
DATA_KEYS = ("GUESTWORK_DATA_KEY", "GUESTWORK_LOOKUP_KEY")


def redis_url() -> str:
    """Return TEST_REDIS_URL, or skip (fail under REQUIRE_SERVICES=1) when it is not set."""
    return service_url("TEST_REDIS_URL", "tests with a Redis broker", "redis://127.0.0.1:6379/15")


@dataclass
class Workers:
    """Start Celery workers for the test's database and broker; kill or stop them."""

    env: dict[str, str]
    log_dir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *queues: str) -> subprocess.Popen[bytes]:
        """Start `celery worker` on some queues (one process, prefetch from config/celery.py)."""
        log = (self.log_dir / f"worker-{len(self.started)}.log").open("wb")
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", ",".join(queues), "-c", "1"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO", "-n", f"test{uuid.uuid4().hex[:6]}@%h"]
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool children at once, as a crashed machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.kill(process)

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Workers]]:
    made: list[Workers] = []

    def make(settings_env: dict[str, str]) -> Workers:
        # The test's own settings only, but this run's data keys (tests/conftest.py): a worker builds its runtime with them.
        env = {key: value for key, value in os.environ.items() if not key.startswith("GUESTWORK_") or key in DATA_KEYS}
        env.update(settings_env, PYTHONPATH=str(ROOT))
        made.append(Workers(env, tmp_path))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()


def wait_for(condition: Callable[[], Any], seconds: float = 60, what: str = "condition", logs: Callable[[], str] = str) -> Any:
    """Poll a condition until it holds; fail with the workers' logs if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds} s waiting for {what}\n{logs()}")
