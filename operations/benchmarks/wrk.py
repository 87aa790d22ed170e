"""Drive an HTTP endpoint with ``wrk`` (a separate process) and parse its rate and latency figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not rate:
        raise ValueError(f"wrk printed no rate:\n{output}")
    result: dict[str, Any] = {"requests_per_s": float(rate.group(1))}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        if m:
            result[f"p{pct}_ms"] = _ms(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: (.*)", output)
    result["socket_errors"] = errors.group(1).strip() if errors else ""
    total = re.search(r"(\d+) requests in", output)
    result["requests"] = int(total.group(1)) if total else 0
    return result


def run_wrk(
    url: str,
    body: str,
    seconds: int = 10,
    connections: int = 16,
    threads: int = 1,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None:
        raise FileNotFoundError("wrk is not installed (Debian: apt-get install wrk)")
    lines = ['wrk.method = "POST"', f"wrk.body = [[{body}]]", 'wrk.headers["Content-Type"] = "application/json"']
    for key, value in (headers or {}).items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text("\n".join(lines) + "\n")
        proc = subprocess.run(
            [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    return parse_wrk(proc.stdout)
