"""The factored network (one shared first-layer product, last layer only where read) equals one pass per group."""

from __future__ import annotations

import pytest
import torch

from export.feature_specs import N_FEATURES
from export.model import FraudAutoencoder


def _naive(model: FraudAutoencoder, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The definition: per group, reconstruct everything with that group hidden; keep each feature's own pass."""
    out = torch.zeros_like(z)
    for g in range(model.hides.shape[0]):
        zhat = model.reconstruct(z, mask & ~model.hides[g])
        out += zhat * model.primary[g]
    return out


@pytest.mark.parametrize("batch", [1, 7, 300])
@torch.no_grad()
def test_factored_reconstruction_equals_one_pass_per_group(batch: int) -> None:
    torch.manual_seed(batch)
    # In float64 the identity is exact to rounding; float32 sums in another order differ by ~1e-5 on 63 features.
    model = FraudAutoencoder(hidden=(48, 24), bottleneck=8).eval().double()
    for p in model.parameters():
        p.normal_(0.0, 0.3)
    z = torch.randn(batch, N_FEATURES, dtype=torch.float64) * 4.0  # past INPUT_CLIP too
    mask = torch.rand(batch, N_FEATURES) < 0.7
    mask[0] = True
    z = torch.where(mask, z, torch.zeros_like(z))
    got = model.group_reconstruction(z, mask)
    want = _naive(model, z, mask)
    assert got.shape == (batch, N_FEATURES)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@torch.no_grad()
def test_every_feature_is_read_from_its_own_group() -> None:
    """Zeroing the last layer's row of one feature changes that feature's reconstruction and no other."""
    model = FraudAutoencoder(hidden=(16, 8), bottleneck=4).eval()
    z, mask = torch.randn(5, N_FEATURES), torch.ones(5, N_FEATURES, dtype=torch.bool)
    before = model.group_reconstruction(z, mask)
    last = model.decoder[-1]
    assert isinstance(last, torch.nn.Linear)
    k = N_FEATURES - 3
    last.weight[k] = 0.0
    last.bias[k] = 7.0
    after = model.group_reconstruction(z, mask)
    assert torch.equal(after[:, k], torch.full((5,), 7.0))
    assert torch.equal(
        torch.cat([after[:, :k], after[:, k + 1 :]], 1), torch.cat([before[:, :k], before[:, k + 1 :]], 1)
    )
