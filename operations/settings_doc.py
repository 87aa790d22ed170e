"""Print every setting of every service as a markdown table (the README's settings section).

``python -m operations.settings_doc`` regenerates it; a test checks the README names every key, so a
new setting cannot go undocumented.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from taxifraud.config import REPO_ROOT

SERVICES = (
    ("shared", "taxifraud.config", "KafkaSettings"),
    ("shared", "taxifraud.config", "TritonSettings"),
    ("tools", "taxifraud.config", "ToolSettings"),
    ("gateway", "gateway.settings", "Settings"),
    ("consumer", "consumer.settings", "Settings"),
    ("review", "review.settings", "Settings"),
    ("embedded stack", "operations.stack_settings", "StackSettings"),
)


def settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    return [(label, getattr(importlib.import_module(module), name)) for label, module, name in SERVICES]


def env_keys(cls: type[BaseSettings], inherited: set[str] | None = None) -> list[tuple[str, Any]]:
    """(ENV_KEY, FieldInfo) for the class's own fields (not those documented under a parent)."""
    prefix = str(cls.model_config.get("env_prefix", "") or "")
    rows = []
    for name, info in cls.model_fields.items():
        if inherited and name in inherited:
            continue
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        rows.append(((alias or prefix + name).upper(), info))
    return rows


def _show(value: Any) -> str:
    """A default as a reader needs it: paths relative to the repository, so no machine's path leaks in."""
    if isinstance(value, Path):
        if value.is_relative_to(REPO_ROOT):
            return "./" + str(value.relative_to(REPO_ROOT))
        if value.is_relative_to(REPO_ROOT.parent):
            return "../" + str(value.relative_to(REPO_ROOT.parent))
        return str(value)
    return repr(value)


def markdown() -> str:
    lines = ["| service | env var | default | meaning |", "|---|---|---|---|"]
    shared: set[str] = set()
    for label, cls in settings_classes():
        for key, info in env_keys(cls, shared if label != "shared" else None):
            default = "" if info.is_required() else _show(info.get_default(call_default_factory=True))
            default = default.replace("|", "\\|")
            if len(default) > 40:
                default = default[:37] + "..."
            lines.append(f"| {label} | `{key}` | `{default}` | {(info.description or '').replace('|', '/')} |")
        if label == "shared":
            shared |= set(cls.model_fields)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
