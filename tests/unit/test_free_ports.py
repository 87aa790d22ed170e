"""Ports handed to parallel stacks: never shared, and consumers' runs never overlap another setting."""

from __future__ import annotations

from operations.stack import CONSUMER_PORTS_RESERVED, free_ports


def test_no_port_is_handed_out_twice() -> None:
    for _ in range(50):
        ports = free_ports()
        first = ports["stack_consumer_metrics_port"]
        consumer_run = set(range(first, first + CONSUMER_PORTS_RESERVED))
        others = [port for name, port in ports.items() if name != "stack_consumer_metrics_port"]
        assert len(set(others)) == len(others)
        assert not consumer_run & set(others)
