"""The ``taxifraud`` command's dispatch: every subcommand, ``-v`` in any place, arguments handed on intact,
exit statuses kept. The subcommands' work is replaced by recorders: what runs behind them has its own tests."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

import pytest

from operations import cli

SUBCOMMANDS = {
    "up", "broker", "triton", "gateway", "consumer", "review", "score", "verdicts", "label",
    "model", "recalibrate", "replay", "demo", "bench", "train", "export",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_root_level() -> Any:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_every_subcommand_is_there() -> None:
    assert set(cli.cli.commands) == SUBCOMMANDS


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """``taxifraud bench ...`` calls a stand-in for operations.bench.main that records its argv."""
    calls: list[list[str]] = []

    def main(argv: list[str]) -> int:
        calls.append(argv)
        return 3 if "--fail" in argv else 0

    monkeypatch.setitem(sys.modules, "operations.bench", types.SimpleNamespace(main=main))
    return calls


@pytest.mark.parametrize(
    "argv",
    [["-v", "bench", "--quick"], ["bench", "-v", "--quick"], ["bench", "--quick", "--verbose"]],
    ids=["before", "after-name", "last"],
)
def test_verbose_anywhere_and_arguments_handed_on(argv: list[str], recorded: list[list[str]]) -> None:
    assert cli.main(argv) == 0
    assert recorded == [["--quick"]]
    assert logging.getLogger().level == logging.DEBUG


def test_info_without_verbose_and_exit_status_kept(recorded: list[list[str]]) -> None:
    assert cli.main(["bench", "--rates", "1000", "5000", "--fail"]) == 3
    assert recorded == [["--rates", "1000", "5000", "--fail"]]
    assert logging.getLogger().level == logging.INFO


def test_help_of_a_handed_on_command_is_its_modules(recorded: list[list[str]]) -> None:
    assert cli.main(["bench", "--help"]) == 0
    assert recorded == [["--help"]]


def test_replay_options_and_several_trip_files(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run_replay(**options: Any) -> int:
        seen.update(options)
        return 1

    monkeypatch.setattr("operations.replay.run_replay", run_replay)
    argv = ["replay", "--data", "a.csv", "b.parquet", "--count", "5", "--to", "kafka", "--run-id", "r1", "-v"]
    assert cli.main(argv) == 1
    assert seen["data"] == ["a.csv", "b.parquet"] and seen["count"] == 5 and seen["to"] == "kafka"
    assert seen["run_id"] == "r1" and seen["gateway"] == "http://127.0.0.1:8000" and seen["duration"] is None


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", "stray.csv"]) == 2
    assert "trip files go after --data" in capsys.readouterr().err
    assert cli.main(["label", "tx-1", "maybe"]) == 2
    assert cli.main(["no-such-command"]) == 2
