"""Embedded Prometheus: Debian's ``prometheus`` binary scraping the embedded stack.

The scrape config is ``prometheus/prometheus.embedded.yml`` with its targets rewritten to the ports
this stack actually uses (jobs are matched by name), so a stack on non-default ports (tests, several
stacks on one machine) is scraped correctly.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from operations.embedded.process import ManagedProcess


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def render_config(
    template: Path,
    targets: dict[str, list[str]],
    out: Path,
    scrape_interval: str | None = None,
    job_overrides: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write ``template`` with each job's static targets replaced by ``targets[job]``.

    Jobs in the template without an entry in ``targets`` are dropped (nothing to scrape); rule files
    are made absolute so the rendered config works from any directory.
    """
    config: dict[str, Any] = yaml.safe_load(template.read_text())
    jobs = []
    for job in config.get("scrape_configs", []):
        name = job.get("job_name")
        if name not in targets:
            continue
        job["static_configs"] = [{"targets": targets[name]}]
        job.update((job_overrides or {}).get(name, {}))
        jobs.append(job)
    config["scrape_configs"] = jobs
    if scrape_interval:
        config.setdefault("global", {})["scrape_interval"] = scrape_interval
    rule_files = config.get("rule_files") or []
    config["rule_files"] = [str((template.parent / rf).resolve()) for rf in rule_files]
    config.pop("alerting", None)  # no Alertmanager in the embedded stack; rules still evaluate
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def prometheus_process(config: Path, host: str, port: int, data_dir: Path, log_path: Path) -> ManagedProcess:
    binary = prometheus_binary()
    if binary is None:
        raise FileNotFoundError("prometheus is not installed (Debian: apt-get install prometheus)")
    argv = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address={host}:{port}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=2d",
        "--web.enable-lifecycle",
    ]
    return ManagedProcess("prometheus", argv, log_path)


def prometheus_ready(host: str, port: int) -> bool:
    with urllib.request.urlopen(f"http://{host}:{port}/-/ready", timeout=1) as resp:
        return bool(resp.status == 200)
