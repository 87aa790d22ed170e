"""The agreement count of reasons with the graph: every row with an amount left unexplained is counted once,
and a reason that states another amount is counted as stated but not as agreeing."""

from __future__ import annotations

from export.data import TARIFF_PATH
from export.model import FraudAutoencoder
from export.reason_agreement import agreement, stated_extra
from taxifraud import tariff
from taxifraud.wire import encode_rows
from tests.model.conftest import trip

TARIFF = tariff.load(TARIFF_PATH)


def _model() -> FraudAutoencoder:
    model = FraudAutoencoder((16, 8), 4)
    model.features.set_tariff(TARIFF)
    model.eval()
    return model


def test_rows_left_unexplained_are_counted_and_agree() -> None:
    """Vendor 2 on a Wednesday noon: $1.00 in `extra` is $1.00 unexplained; a total $6.50 above its parts is $6.50."""
    base = {"vendor_id": 2, "pickup_datetime": "2019-07-10 12:00:00", "dropoff_datetime": "2019-07-10 12:20:00"}
    rows = encode_rows(
        [
            trip(**base),
            trip(**base, extra=1.0, total_amount=18.8),
            trip(**base, total_amount=24.3),
        ]
    )
    got = agreement(_model(), rows, TARIFF, None)
    assert got["extra"] == {"unexplained": 1, "stated": 1, "agree": 1}
    assert got["total"] == {"unexplained": 1, "stated": 1, "agree": 1}
    assert stated_extra(rows[1], TARIFF, None) == 1.0
    assert stated_extra(rows[0], TARIFF, None) is None


def test_a_reason_stating_another_amount_does_not_agree(monkeypatch) -> None:
    rows = encode_rows([trip(vendor_id=2, extra=1.0, total_amount=18.8)])
    monkeypatch.setattr("export.reason_agreement.stated_extra", lambda row, t, passes: 0.5)
    got = agreement(_model(), rows, TARIFF, None)
    assert got["extra"] == {"unexplained": 1, "stated": 1, "agree": 0}
