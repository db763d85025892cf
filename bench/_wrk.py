"""The load generator of bench/api.py: wrk (Debian's `wrk` package), driven by a Lua script that reports in JSON.

Not a benchmark itself. wrk is C and event-driven: on loopback it costs the machine a few µs of CPU per request,
against 100 µs for the script's own asyncio client, so on two cores it leaves the server and PostgreSQL their CPU.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Each wrk thread runs its own copy: `init` reads the headers and the paths the bench wrote, `request` takes the paths
# in turn (the bench shuffled them), `response` stops the run at the first answer that is not 200, `done` prints the
# figures as one JSON line (latencies in µs, from a request's send to the end of its answer).
LUA = r"""
local paths, headers, next_path, request_of = {}, {}, 0, {}
local file = io.open(os.getenv("WRK_BENCH_INPUT"))
for line in file:lines() do
  local name, value = line:match("^header (.-): (.*)$")
  if name then headers[name] = value else paths[#paths + 1] = line:match("^path (.*)$") end
end
file:close()

init = function(args)
  for i, path in ipairs(paths) do request_of[i] = wrk.format("GET", path, headers) end
  next_path = tonumber(args[1] or "0") % #paths
end

request = function()
  next_path = next_path % #paths + 1
  return request_of[next_path]
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("answer " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d, "errors": %d, "status_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class Run:
    """What one wrk run measured: requests, seconds, latency percentiles (ms) and the CPU seconds wrk used."""

    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    cpu: float


def available() -> bool:
    """Tell whether wrk is installed."""
    return shutil.which("wrk") is not None


def run(base: str, paths: list[str], headers: dict[str, str], *, clients: int, seconds: float, scratch: Path) -> Run:
    """Load the server with `clients` keep-alive connections for some seconds, GETting the paths in turn; fail on any non-200."""
    script, given = scratch / "bench.lua", scratch / "input.txt"
    script.write_text(LUA)
    given.write_text("".join(f"header {name}: {value}\n" for name, value in headers.items()) + "".join(f"path {p}\n" for p in paths))
    command = ["wrk", "--threads", "1", "--connections", str(clients), "--duration", f"{seconds:g}s", "--timeout", "30s",
               "--script", str(script), base]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, env={"WRK_BENCH_INPUT": str(given), "PATH": "/usr/bin:/bin"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-2000:]}")
    figures = json.loads(line.removeprefix("WRK-JSON "))
    if figures["status_errors"] or figures["errors"] or done.stderr.strip():
        raise SystemExit(
            f"wrk on {paths[0]}: {figures['status_errors']} answers not 200, {figures['errors']} socket errors: {done.stderr[-1000:]}"
        )
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(figures["requests"], figures["duration_us"] / 1e6, figures["p50"] / 1000, figures["p95"] / 1000, figures["p99"] / 1000, cpu)
