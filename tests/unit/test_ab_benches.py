"""The A/B benches' pure parts: Triton side B's config, and Kafka property values from the command line."""

from __future__ import annotations

import pytest

from operations.benchmarks.kafka_ab import parse_value
from operations.benchmarks.triton_ab import SIDE_B, changed_config
from taxifraud.config import REPO_ROOT

EMBEDDED = REPO_ROOT / "model_repository" / "fraud_autoencoder" / "configs" / "embedded.pbtxt"


def test_side_b_changes_only_the_asked_fields_and_the_name() -> None:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    text = EMBEDDED.read_text()
    a = text_format.Parse(text, pb.ModelConfig())
    b = text_format.Parse(
        changed_config(text, {"max_queue_delay_microseconds": "250", "count": "3"}, SIDE_B), pb.ModelConfig()
    )
    assert b.name == SIDE_B
    assert b.dynamic_batching.max_queue_delay_microseconds == 250
    assert [g.count for g in b.instance_group] == [3]
    b.name, b.dynamic_batching.max_queue_delay_microseconds = a.name, a.dynamic_batching.max_queue_delay_microseconds
    del b.instance_group[:]
    b.instance_group.extend(a.instance_group)
    assert b == a


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="no field 'max_queue_delay'"):
        changed_config(EMBEDDED.read_text(), {"max_queue_delay": "0"}, SIDE_B)


def test_kafka_property_values_keep_librdkafka_types() -> None:
    assert parse_value("true") is True
    assert parse_value("False") is False
    assert parse_value("0") == 0 and isinstance(parse_value("0"), int)
    assert parse_value("lz4") == "lz4"
    assert parse_value("0.5") == "0.5"  # librdkafka parses numeric strings itself


def test_changes_from_the_command_line() -> None:
    import click

    from operations.benchmarks.ab import parse_changes

    assert parse_changes(("count=3", "a.b=x=y")) == {"count": "3", "a.b": "x=y"}
    with pytest.raises(click.BadParameter, match="expected NAME=VALUE, got 'count'"):
        parse_changes(("count",))


def test_one_line_per_side() -> None:
    from operations.benchmarks.ab import side_lines

    figures = {"requests": 10, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.456}
    lines = side_lines({"A": figures, "B": {**figures, "requests": 9}}, "as is", {"count": 2}, "{requests} requests")
    assert lines == [
        "A (as is): 10 requests, p50 1.00 / p95 2.00 / p99 3.46 ms",
        "B (count=2): 9 requests, p50 1.00 / p95 2.00 / p99 3.46 ms",
    ]
