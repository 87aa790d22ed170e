"""The ``taxifraud`` command's dispatch: every subcommand, ``-v`` in any place, arguments handed on intact,
exit statuses kept. The subcommands' work is replaced by recorders: what runs behind them has its own tests."""

from __future__ import annotations

import logging
import subprocess
import sys
import types
from typing import Any

import click
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
    assert set(cli.cli.list_commands(click.Context(cli.cli))) == SUBCOMMANDS


def test_help_lists_every_subcommand_without_importing_torch(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == SUBCOMMANDS
    check = "import sys; from operations import cli; cli.main(['--help']); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0, "--help imported torch"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``taxifraud bench ...`` runs a stand-in for operations.bench.command that records its options."""
    calls: list[dict[str, Any]] = []

    @click.command("bench")
    @click.option("--quick", is_flag=True)
    @click.option("--rates", type=float, multiple=True)
    @click.option("--fail", is_flag=True)
    def command(quick: bool, rates: tuple[float, ...], fail: bool) -> int:
        calls.append({"quick": quick, "rates": list(rates)})
        return 3 if fail else 0

    monkeypatch.setitem(sys.modules, "operations.bench", types.SimpleNamespace(command=command))
    return calls


@pytest.mark.parametrize(
    "argv",
    [["-v", "bench", "--quick"], ["bench", "-v", "--quick"], ["bench", "--quick", "--verbose"]],
    ids=["before", "after-name", "last"],
)
def test_verbose_anywhere(argv: list[str], recorded: list[dict[str, Any]]) -> None:
    assert cli.main(argv) == 0
    assert recorded == [{"quick": True, "rates": []}]
    assert logging.getLogger().level == logging.DEBUG


def test_info_without_verbose_and_exit_status_kept(recorded: list[dict[str, Any]]) -> None:
    assert cli.main(["bench", "--rates", "1000", "--rates", "5000", "--fail"]) == 3
    assert recorded == [{"quick": False, "rates": [1000.0, 5000.0]}]
    assert logging.getLogger().level == logging.INFO


def test_help_of_a_lazy_command_is_its_own(recorded: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--help"]) == 0
    assert recorded == [] and "--quick" in capsys.readouterr().out


class _Ran(Exception):
    pass


def test_bench_quick_scales_down_but_explicit_options_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from operations import bench

    seen: list[Any] = []

    def run(args: Any) -> dict[str, Any]:
        seen.append(args)
        raise _Ran

    monkeypatch.setattr(bench, "run", run)
    with pytest.raises(_Ran):
        cli.main(["bench", "--quick", "--max-count", "7", "--rates", "10", "--rates", "20", "--no-chaos"])
    args = seen[0]
    assert args.max_count == 7 and args.step_seconds == bench.QUICK["step_seconds"]
    assert args.rates == [10.0, 20.0] and args.chaos is False
    assert args.argv == ["--rates", "10", "--rates", "20", "--max-count", "7", "--no-chaos", "--quick"]


def test_model_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    from operations import model_versions

    switched: list[tuple[str, str | None]] = []
    monkeypatch.setattr(model_versions, "_switch", lambda action, version=None: switched.append((action, version)))
    assert cli.main(["model", "promote", "3", "-v"]) == 0
    assert cli.main(["model", "rollback"]) == 0
    assert switched == [("promote", "3"), ("rollback", None)]
    assert cli.main(["model", "shadow"]) == 2  # VERSION missing


@pytest.mark.parametrize("name", ["train", "export", "recalibrate", "model"])
def test_help_of_every_lazy_command(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([name, "--help"]) == 0
    assert f"Usage: taxifraud {name}" in capsys.readouterr().out


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


#: The tools run as ``python -m MODULE`` (not subcommands of ``taxifraud``): Click commands run by the same runner.
MODULE_COMMANDS = [
    "operations.benchmarks.chaos",
    "operations.benchmarks.kafka_ab",
    "operations.benchmarks.triton_ab",
    "operations.benchmarks.warmup_ab",
    "operations.benchmarks.model_cost",
    "operations.benchmarks.consumer_only",
    "operations.traffic",
    "tests.consumer.span_probe",
]


@pytest.mark.parametrize("module", MODULE_COMMANDS)
def test_module_commands_help_and_usage_errors(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    from taxifraud.click_main import run_command

    command = importlib.import_module(module).command
    assert run_command(command, ["--help"], prog_name=f"python -m {module}") == 0
    assert f"Usage: python -m {module}" in capsys.readouterr().out
    assert run_command(command, ["--no-such-option"], prog_name=module) == 2
    assert "No such option '--no-such-option'" in capsys.readouterr().err


def test_module_command_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "operations.benchmarks.kafka_ab", "--set", "no-equals-sign"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "expected NAME=VALUE, got 'no-equals-sign'" in done.stderr
