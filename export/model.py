"""The exported model: feature graph -> standardisation -> masked autoencoder -> z-scored errors -> score.

Why a *masked* autoencoder scored group by group: a plain autoencoder given three fields (distance,
duration, fare) has more bottleneck than the data has degrees of freedom and learns to copy its input,
so an inflated fare reconstructs perfectly. Instead, at scoring time the model reconstructs each
column group (money, trip, place/time, meta; see ``export.features.GROUPS``) with that group *hidden*
from its input, i.e. from the other groups only. A fare is then judged against what distance,
duration, zones, time and rate code imply, which is exactly the question fraud review asks, and the
same network handles any subset of fields because missing fields look like hidden ones (mask = 0).
Training hides random groups and random optional fields, so every field set the wire allows is seen.

Per-feature errors are divided by that feature's *validation* spread (like Morpheus DFP's z-scores),
looked up by how many input columns the row has (three fields give a vaguer reconstruction than
seventeen, and a single spread would make the 3-field body either noisy or blind) and by payment
class (a cash trip's tip is always $0, a card trip's varies). The score is the
largest per-feature z over the scored features (charges and trip physics; see
``export.features.SCORED``; one absurd field suffices) divided by that maximum's validation tail quantile
for the same number of present columns: the maximum of 6 computable features is naturally smaller
than the maximum of 37, and without this a single threshold would suit only one field set. So a score
of 1 means "as extreme as the rarest normal trips with this many fields", for every field set, and
``is_fraud = score > threshold`` with the threshold calibrated on validation months and stored in the
graph as a constant.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from export.feature_specs import TABLE_LOOKUP
from export.features import (
    DECISIVE_CUT,
    N_FEATURES,
    RULE,
    SCORED,
    FeatureGraph,
    group_hides,
    primary_group,
)
from taxifraud.wire import COLUMN_INDEX, N_INPUT_COLUMNS

#: z values fed to the encoder are clipped here: the network never sees (and so can never learn to
#: echo) magnitudes outside the training range, while errors are measured on the unclipped z.
INPUT_CLIP = 6.0
N_BUCKETS = N_INPUT_COLUMNS + 1  # spread table rows: number of present input columns, 0..17
#: Spreads are also kept per payment class (card, cash, other or missing): a cash trip's tip is always
#: $0 while a card trip's varies, so one pooled spread would make a tip on a cash payment look ordinary.
N_PAY_CLASSES = 3
#: Outputs are capped: a z of 10,000 says everything, and no consumer has to JSON-encode an infinity.
OUTPUT_LIMIT = 1.0e4
#: Tail levels of the rarity curve: the share of ordinary validation trips whose error reaches a point, as
#: -log10 (0.5 -> 0.3, 1e-4 -> 4). Beyond the last point the curve continues with its last slope.
TAIL_LEVELS: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999, 0.9999)
N_TAIL = len(TAIL_LEVELS)
#: Score and rarity given to a row that breaks a deciding rule check (``export.features.DECISIVE``): far
#: above any threshold, and far enough above every other error that the rule leads the reasons.
DECIDED_SCORE = 100.0
DECIDED_RARITY = 50.0


class FraudAutoencoder(nn.Module):
    """``trip_fields`` [B,17] -> anomaly_score [B,1], is_fraud [B,1], feature_errors [B,K], feature_expected [B,K]."""

    center: torch.Tensor
    scale: torch.Tensor
    spread: torch.Tensor
    score_scale: torch.Tensor
    threshold: torch.Tensor
    hides: torch.Tensor
    primary: torch.Tensor
    scored: torch.Tensor
    rule: torch.Tensor
    table_lookup: torch.Tensor
    tail_x: torch.Tensor
    tail_slope: torch.Tensor
    decisive_cut: torch.Tensor
    hidden_cols: torch.Tensor
    hidden_valid: torch.Tensor
    primary_rows: torch.Tensor
    primary_slot: torch.Tensor

    def __init__(self, hidden: tuple[int, int] = (256, 128), bottleneck: int = 32) -> None:
        super().__init__()
        k = N_FEATURES
        self.features = FeatureGraph()
        self.register_buffer("center", torch.zeros(k))
        self.register_buffer("scale", torch.ones(k))
        self.register_buffer("spread", torch.ones(N_BUCKETS * N_PAY_CLASSES, k))
        self.register_buffer("score_scale", torch.ones(N_BUCKETS))
        self.register_buffer("threshold", torch.tensor(1.0e9))
        self.register_buffer("hides", group_hides())
        self.register_buffer("primary", primary_group())
        self.register_buffer("scored", torch.tensor(SCORED, dtype=torch.bool))
        self.register_buffer("rule", torch.tensor(RULE, dtype=torch.bool))
        self.register_buffer("table_lookup", torch.tensor(TABLE_LOOKUP, dtype=torch.bool), persistent=False)
        # Finite cut-offs only: an infinite constant would not survive a TensorRT FP16 engine.
        cuts = torch.tensor([c if c < OUTPUT_LIMIT else OUTPUT_LIMIT for c in DECISIVE_CUT])
        self.register_buffer("decisive_cut", cuts)
        # Rarity curve per feature: knots (error values, first one 0) and the slope after each knot.
        self.register_buffer("tail_x", torch.arange(N_TAIL + 1, dtype=torch.float32).repeat(k, 1))
        self.register_buffer("tail_slope", torch.ones(k, N_TAIL + 1))
        # Index tables of the factored network (see ``group_reconstruction``); derived from the groups, not saved.
        hidden_cols, hidden_valid = _padded_rows(torch.cat([self.hides, self.hides], dim=1))
        self.register_buffer("hidden_cols", hidden_cols, persistent=False)
        self.register_buffer("hidden_valid", hidden_valid, persistent=False)
        primary_rows, _ = _padded_rows(self.primary > 0)
        self.register_buffer("primary_rows", primary_rows, persistent=False)
        self.register_buffer("primary_slot", _slot_of(self.primary > 0, primary_rows.shape[1]), persistent=False)
        h1, h2 = hidden
        self.encoder = nn.Sequential(
            nn.Linear(2 * k, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU(), nn.Linear(h2, bottleneck)
        )
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, h2),
            nn.SiLU(),
            nn.Linear(h2, h1),
            nn.SiLU(),
            nn.Linear(h1, k),
        )

    def standardize(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = (feats - self.center) / self.scale
        return torch.where(mask, z, 0.0)

    def reconstruct(self, z: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Reconstruct all K standardised features from the visible ones (the mask is an input too)."""
        v = visible.to(z.dtype)
        inp = torch.cat([torch.clamp(z, -INPUT_CLIP, INPUT_CLIP) * v, v], dim=1)
        out: torch.Tensor = self.decoder(self.encoder(inp))
        return out

    def group_reconstruction(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One pass per group with that group hidden; each feature taken from its own group's pass.

        The same numbers, to float rounding, as running :meth:`reconstruct` once per group and keeping
        each feature's own pass, with about a quarter fewer multiply-adds. The first layer is linear, so
        with ``x`` the all-visible input and ``x_g`` its columns that group ``g`` hides,
        ``W(x - x_g) = Wx - W x_g``: one full product serves all passes, and each pass subtracts a product
        over its few hidden columns only. The last layer is computed, per pass, only for the features that
        pass scores.
        """
        g, b = self.hides.shape[0], z.shape[0]
        m = mask.to(z.dtype)
        x = torch.cat([torch.clamp(z, -INPUT_CLIP, INPUT_CLIP) * m, m], dim=1)  # [B, 2K], all groups visible
        first = self.encoder[0]
        assert isinstance(first, nn.Linear)
        # [G, S, H1]: for each group the first layer's weights of the columns it hides (padding rows are 0).
        w_hidden = first.weight.t()[self.hidden_cols] * self.hidden_valid.unsqueeze(2)
        # Gathered as rows of x transposed: ONNX Runtime copies whole rows, not one float at a time.
        x_hidden = x.t()[self.hidden_cols.reshape(-1)].reshape(g, self.hidden_cols.shape[1], b)  # [G, S, B]
        h = first(x).unsqueeze(0) - torch.matmul(x_hidden.transpose(1, 2), w_hidden)  # [G, B, H1]
        h = self.encoder[1:](h.reshape(g * b, first.out_features))
        last = self.decoder[-1]
        assert isinstance(last, nn.Linear)
        h = self.decoder[:-1](h).reshape(g, b, last.in_features)  # [G, B, H]
        # [G, P, B]: pass g's outputs for the features it scores (padding rows are never read).
        own = torch.matmul(last.weight[self.primary_rows], h.transpose(1, 2))
        return own.reshape(self.primary_rows.numel(), b)[self.primary_slot].t() + last.bias

    def spread_cell(self, raw: torch.Tensor, bucket: torch.Tensor) -> torch.Tensor:
        """Row of the spread table: present-column count x payment class (card 0, cash 1, else 2)."""
        pay = raw[:, COLUMN_INDEX["payment_type"]]
        pay_class = torch.where(pay == 1.0, 0, torch.where(pay == 2.0, 1, 2))  # NaN compares False: class 2
        return bucket * N_PAY_CLASSES + pay_class

    def score_parts(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(errors unscaled |z - zhat|, mask, bucket index, expected in feature units)."""
        feats, mask, present = self.features(raw)
        z = self.standardize(feats, mask)
        zhat = self.group_reconstruction(z, mask)
        # Rule checks are judged against the value TLC's rules give an ordinary trip, 0 (see RULE_CHECKS).
        zhat = torch.where(self.rule, -self.center / self.scale, zhat)
        resid = torch.where(mask, torch.abs(z - zhat), 0.0)
        bucket = present.to(torch.long).sum(dim=1)
        # The zone pair's usual route is its table's value, whatever the network would guess from the trip.
        expected = torch.where(self.table_lookup, feats, zhat * self.scale + self.center)
        return resid, mask, bucket, expected

    def rarity(self, errors: torch.Tensor) -> torch.Tensor:
        """Per feature, -log10 of the share of ordinary validation trips with an error at least this large.

        A piecewise-linear curve through the feature's validation error quantiles (``TAIL_LEVELS``),
        continued beyond the last with its last slope. It puts every feature on one scale of evidence: a
        charge the tariff explains on every ordinary trip is rare at its first cent of deviation, while a
        fare per minute, which varies with traffic, needs a large error to be as rare.
        """
        # Laid out [B, L+1, K] so each broadcast runs over whole rows of K features, not over runs of L+1.
        e = errors.unsqueeze(1)  # [B, 1, K]
        x = self.tail_x.t().unsqueeze(0)  # [1, L+1, K]
        width = torch.cat([x[:, 1:] - x[:, :-1], torch.full_like(x[:, :1], OUTPUT_LIMIT)], dim=1)
        covered = torch.minimum(torch.clamp(e - x, min=0.0), width)
        return (covered * self.tail_slope.t().unsqueeze(0)).sum(dim=1)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        resid, mask, bucket, expected = self.score_parts(raw)
        spread = self.spread[self.spread_cell(raw, bucket)]
        # A feature the row cannot compute has resid 0, so z 0 and rarity 0: no `where` on the mask is needed.
        z = torch.clamp(resid / spread, 0.0, OUTPUT_LIMIT)
        errors = torch.clamp(self.rarity(z), 0.0, OUTPUT_LIMIT)
        # A deciding rule check broken: the feature's value (its distance from the tariff's 0) past its cut.
        broken = mask & (resid * self.scale > self.decisive_cut)
        errors = torch.where(broken, torch.clamp(errors, min=DECIDED_RARITY), errors)
        worst = torch.amax(torch.where(self.scored, errors, 0.0), dim=1, keepdim=True)
        score = torch.clamp(worst / self.score_scale[bucket].unsqueeze(1), 0.0, OUTPUT_LIMIT)
        decided = torch.amax(broken.to(score.dtype), dim=1, keepdim=True) > 0.0  # any(): a max, cheaper than a sum
        score = torch.where(decided, torch.clamp(score, min=DECIDED_SCORE), score)
        is_fraud = score > self.threshold
        return score, is_fraud, errors, expected


@torch.no_grad()
def in_batches(
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], rows: np.ndarray, batch: int = 8192
) -> tuple[np.ndarray, ...]:
    """``fn`` over encoded rows a batch at a time, each of its outputs concatenated: a year of trips at once
    would hold every intermediate tensor of the feature graph in memory."""
    parts: list[tuple[torch.Tensor, ...]] = []
    for i in range(0, len(rows), batch):
        parts.append(fn(torch.from_numpy(np.ascontiguousarray(rows[i : i + batch], dtype=np.float32))))
    if not parts:
        parts.append(fn(torch.zeros((0, N_INPUT_COLUMNS))))
    return tuple(torch.cat(out).numpy() for out in zip(*parts, strict=True))


def score_in_batches(model: FraudAutoencoder, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly score, feature errors) from the torch model, the same decision the ONNX graph makes."""

    def score(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, _, errors, _ = model(t)
        return s[:, 0], errors

    scores, errors = in_batches(score, rows)
    return scores, errors


class SeedBaseline(nn.Module):
    """The seed's recipe, kept only for comparison in the model card.

    5 features (passenger_count, trip_distance, fare_amount, duration, fare per minute), a
    StandardScaler (missing values imputed at the mean, i.e. 0 after scaling), a 5-32-16-8-2
    autoencoder trained with MSE, and the 95th percentile of training error as threshold.
    """

    mean: torch.Tensor
    std: torch.Tensor
    threshold: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(5))
        self.register_buffer("std", torch.ones(5))
        self.register_buffer("threshold", torch.tensor(1.0e9))
        self.encoder = nn.Sequential(
            nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2)
        )
        self.decoder = nn.Sequential(
            nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5)
        )

    @staticmethod
    def raw_features(raw: torch.Tensor) -> torch.Tensor:
        from taxifraud.wire import COLUMN_INDEX

        pc = raw[:, COLUMN_INDEX["passenger_count"]]
        dist = raw[:, COLUMN_INDEX["trip_distance"]]
        fare = raw[:, COLUMN_INDEX["fare_amount"]]
        dur = raw[:, COLUMN_INDEX["duration_minutes"]]
        fpm = fare / torch.clamp(dur, min=1.0 / 60.0)
        return torch.stack([pc, dist, fare, dur, fpm], dim=1)

    def scaled(self, raw: torch.Tensor) -> torch.Tensor:
        f = self.raw_features(raw)
        z = (f - self.mean) / self.std
        return torch.where(torch.isfinite(z), z, torch.zeros_like(z))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        z = self.scaled(raw)
        zhat = self.decoder(self.encoder(z))
        return ((z - zhat) ** 2).mean(dim=1)


def _padded_rows(member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[G, K] bool -> ([G, S] column indices of each row's members, padded with 0; [G, S] 1.0 where real)."""
    width = int(member.sum(dim=1).max())
    index = torch.zeros(member.shape[0], width, dtype=torch.long)
    valid = torch.zeros(member.shape[0], width)
    for g, row in enumerate(member):
        cols = torch.nonzero(row).flatten()
        index[g, : len(cols)] = cols
        valid[g, : len(cols)] = 1.0
    return index, valid


def _slot_of(member: torch.Tensor, width: int) -> torch.Tensor:
    """[K]: where column k sits in the flattened [G * width] layout of ``_padded_rows`` (k in one row only)."""
    slot = torch.zeros(member.shape[1], dtype=torch.long)
    for g, row in enumerate(member):
        for j, k in enumerate(torch.nonzero(row).flatten().tolist()):
            slot[k] = g * width + j
    return slot
