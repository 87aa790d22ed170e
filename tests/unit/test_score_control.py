"""``/score`` follows the model-control topic through the shared VersionSelector: a promotion to a version
whose metadata cannot be read is refused (the last good version keeps scoring) and taken up once it can."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.scoring import ScoreService
from gateway.settings import Settings
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, MODEL_NAME
from taxifraud.model_control import ModelControl


class Records:
    """Stands in for the ControlReader: hands out the queued records, then nothing."""

    def __init__(self, *states: ModelControl) -> None:
        self.states = list(states)

    def poll(self) -> ModelControl | None:
        return self.states.pop(0) if self.states else None


def _version(repo: Path, version: str) -> None:
    target = repo / MODEL_NAME / version
    target.mkdir(parents=True)
    shutil.copy(DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "1" / "model_meta.json", target / "model_meta.json")


def _follow(svc: ScoreService) -> None:
    svc._next_control = 0.0  # no waiting for the poll interval in a unit test
    svc._follow_control()


def test_refuses_an_unreadable_version_then_switches_once_it_reads(tmp_path: Path) -> None:
    _version(tmp_path, "1")
    svc = ScoreService(Settings(model_repository=tmp_path))
    promote = ModelControl(MODEL_NAME, live="2", previous="1", action="promote")
    svc.control = Records(promote)  # type: ignore[assignment]
    _follow(svc)
    assert svc.live == "1"  # version 2 has no model_meta.json yet
    _version(tmp_path, "2")
    _follow(svc)  # no new record: the selector's recheck takes the wanted version up
    assert svc.live == "2" and svc.meta is svc.metas["2"]


def test_rollback_switches_back(tmp_path: Path) -> None:
    _version(tmp_path, "1")
    _version(tmp_path, "2")
    svc = ScoreService(Settings(model_repository=tmp_path))
    svc.control = Records(  # type: ignore[assignment]
        ModelControl(MODEL_NAME, live="2", previous="1", action="promote"),
        ModelControl(MODEL_NAME, live="1", action="rollback"),
    )
    _follow(svc)
    assert svc.live == "2"
    _follow(svc)
    assert svc.live == "1"


def test_nothing_new_changes_nothing(tmp_path: Path) -> None:
    _version(tmp_path, "1")
    svc = ScoreService(Settings(model_repository=tmp_path))
    svc.control = Records()  # type: ignore[assignment]
    _follow(svc)
    assert svc.live == "1" and svc.meta is None  # metadata is read on demand, not by an idle poll
