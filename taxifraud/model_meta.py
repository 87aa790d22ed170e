"""The model's metadata (``model_meta.json`` next to ``model.onnx``): what a client needs beyond outputs.

The threshold is baked into the ONNX graph (``is_fraud``); the copy here is for display and for the
verdict's ``threshold`` field. ``feature_names`` give ``feature_errors`` columns their meaning, and
``baseline`` holds the training distributions that drift monitoring (PSI) and the traffic generator use.
JSON, never pickle: it is read by services that must not execute code from a model repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxifraud.config import MODEL_NAME
from taxifraud.wire import MODEL_INPUT_COLUMNS


@dataclass(frozen=True)
class ModelMeta:
    model_version: str
    threshold: float
    feature_names: list[str]
    reason_min_z: float
    baseline: dict[str, Any]
    fpr_budget: float = 0.0
    input_columns: list[str] = field(default_factory=lambda: list(MODEL_INPUT_COLUMNS))
    feature_units: dict[str, str] = field(default_factory=dict)
    scored_features: list[str] = field(default_factory=list)  # count towards the score; empty = all
    created_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ModelMeta:
        """Validate the fields clients rely on; a model whose columns disagree with the wire is refused."""
        columns = list(doc.get("input_columns", MODEL_INPUT_COLUMNS))
        if columns != list(MODEL_INPUT_COLUMNS):
            raise ValueError(f"model input columns {columns} do not match taxifraud.wire.MODEL_INPUT_COLUMNS")
        groups = doc.get("feature_groups", {})
        return cls(
            model_version=str(doc["model_version"]),
            threshold=float(doc["threshold"]),
            feature_names=[str(n) for n in doc["feature_names"]],
            reason_min_z=float(doc.get("reason_min_z", 4.0)),
            baseline=dict(doc.get("baseline", {})),
            fpr_budget=float(doc.get("fpr_budget", 0.0)),
            input_columns=columns,
            feature_units={name: str(info.get("unit", "")) for name, info in groups.items()},
            scored_features=[str(n) for n in doc.get("scored_features", [])],
            created_at=str(doc.get("created_at", "")),
            raw=doc,
        )

    @classmethod
    def load(cls, model_repository: Path, model_name: str = MODEL_NAME, version: str = "1") -> ModelMeta:
        path = Path(model_repository) / model_name / version / "model_meta.json"
        return cls.from_dict(json.loads(path.read_text()))

    def feature_index(self, name: str) -> int:
        return self.feature_names.index(name)
