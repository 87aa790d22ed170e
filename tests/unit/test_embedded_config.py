"""The embedded Prometheus config is rendered for the stack's real ports."""

from __future__ import annotations

from pathlib import Path

import yaml

from operations.embedded.prometheus import render_config
from taxifraud.config import REPO_ROOT


def test_render_config_rewrites_targets_and_rule_paths(tmp_path: Path) -> None:
    out = render_config(
        REPO_ROOT / "prometheus" / "prometheus.embedded.yml",
        {"gateway": ["127.0.0.1:1"], "consumer": ["127.0.0.1:2", "127.0.0.1:3"], "triton": ["127.0.0.1:4"]},
        tmp_path / "p.yml",
    )
    config = yaml.safe_load(out.read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets == {
        "gateway": ["127.0.0.1:1"],
        "consumer": ["127.0.0.1:2", "127.0.0.1:3"],
        "triton": ["127.0.0.1:4"],
    }
    for rule_file in config.get("rule_files", []):
        assert Path(rule_file).is_absolute() and Path(rule_file).exists()
