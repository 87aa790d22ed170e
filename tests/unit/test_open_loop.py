"""The open-loop schedule shared by the warm-up and the load generators (no server: pure scheduling)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from operations.open_loop import request_count, run_open_loop


@pytest.mark.parametrize(("rate", "count"), [(300.0, 10_000), (1000.0, 60_000), (7.0, 1)])
def test_request_count_is_what_rate_and_seconds_were_made_from(rate: float, count: int) -> None:
    assert request_count(rate, count / rate) == count


def test_every_request_starts_once_on_its_own_due_time_without_waiting_for_earlier_answers() -> None:
    started: list[tuple[int, float]] = []
    answered: list[int] = []

    async def one(i: int, due: float) -> None:
        started.append((i, due))
        await asyncio.sleep(0.5 if i == 0 else 0)  # the first answer is the slowest, by far more than the schedule
        answered.append(i)

    asyncio.run(run_open_loop(200.0, 5, one))
    assert [i for i, _ in started] == [0, 1, 2, 3, 4]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(started)]
    assert gaps == pytest.approx([1 / 200.0] * 4)
    assert answered[-1] == 0  # later requests were not held back by the slow first one
    assert sorted(answered) == [0, 1, 2, 3, 4]
