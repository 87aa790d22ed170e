"""What the interleaved A/B benches (a Kafka client property, a Triton config field) share: the options that
shape their windows and the line each side is reported on, so both read and report alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def ab_options(what: str, unit: str, seconds: float) -> Callable[[F], F]:
    """``--set NAME=VALUE`` (repeatable: side B's changes), ``--rate``, ``--seconds`` per window, ``--windows``."""

    def decorate(command: F) -> F:
        for option in reversed(
            (
                click.option("--set", "changes", multiple=True, metavar="NAME=VALUE", help=f"{what} of side B"),
                click.option("--rate", type=float, default=1000.0, show_default=True, help=f"{unit} per second"),
                click.option("--seconds", type=float, default=seconds, show_default=True, help="each window"),
                click.option("--windows", type=int, default=4, show_default=True, help="windows per side, interleaved"),
            )
        ):
            command = option(command)
        return command

    return decorate


def parse_changes(items: tuple[str, ...], param_hint: str = "--set") -> dict[str, str]:
    """``("a=1", "b=x")`` -> ``{"a": "1", "b": "x"}``; an item without ``=`` is a usage error naming it."""
    bad = [item for item in items if "=" not in item]
    if bad:
        raise click.BadParameter(f"expected NAME=VALUE, got {bad[0]!r}", param_hint=param_hint)
    return dict(item.split("=", 1) for item in items)


def side_lines(result: Mapping[str, Any], a_label: str, changes: Mapping[str, Any], count: str) -> list[str]:
    """One line per side: its label, ``count`` (already worded from the side's figures), p50/p95/p99 in ms."""
    lines = []
    for side in ("A", "B"):
        r = result[side]
        label = a_label if side == "A" else ", ".join(f"{k}={v}" for k, v in changes.items())
        lines.append(
            f"{side} ({label}): {count.format(**r)}, p50 {r['p50_ms']:.2f} / p95 {r['p95_ms']:.2f} / "
            f"p99 {r['p99_ms']:.2f} ms"
        )
    return lines
