"""Model-card sections rendered from a Jinja2 template (``export/templates``): the prose lives in the
template, every figure comes from ``evaluation.json``, so the words can be edited without touching code."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from export.feature_specs import TIP_FARE_RATIO, WHOLE_TIP_FARE_RATIO

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: How each deciding rule check is described in the card (cut-offs: ``export.features.DECISIVE``).
DECIDES_WHEN = {
    "extra_vs_tariff": "`extra` $0.25+ away from every sum of the surcharges that date, hour and place allow",
    "mta_tax_vs_tariff": "MTA tax $0.25+ away from $0 and from the tariff's amount",
    "improvement_vs_tariff": "improvement surcharge $0.25+ away from $0 and from the tariff's amount",
    "congestion_vs_tariff": "congestion surcharge $0.25+ away from $0 and from the tariff's amount",
    "airport_fee_vs_tariff": "airport fee $0.25+ away from $0 and from the tariff's amount",
    "cbd_fee_vs_tariff": "congestion relief zone fee $0.25+ away from $0 and from the tariff's amount",
    "airport_fee_unexpected": "an airport fee on a pickup outside the airport zones",
    "cbd_fee_unexpected": "a relief-zone fee with no end below 60th Street and no congestion surcharge",
    "jfk_rate_off_route": "rate code 2 (JFK flat fare) with neither end at JFK",
    "out_of_city_rate_in_city": "rate code 4 (out-of-city, double meter) with both ends in the five boroughs",
    "tolls_unexpected": "tolls on a zone pair whose trips pay tolls less than once in 400",
    "congestion_unexpected": "congestion surcharge on a zone pair (no end in the zone) that pays it < 1 in 150 (a trip "
    "before the 2022-12-19 fare change: in its own era; a vendor 1 trip: the lower of its vendor's rate and "
    "all trips')",
    "route_excess": "distance and time both 3.5+ of the zone pair's spreads (at the trip's hour, wider for pairs seen "
    "few times) beyond its usual route, the ends two different known zones",
    "distance_beyond_time": "distance 5+ of the pair's spreads beyond its route, more than the time explains, "
    "on a pair of two different zones seen 5+ times in training",
    "speed_beyond_route": "an average speed 4.5+ of the zone pair's spreads above its trips' usual one, on a pair seen "
    "5+ times in training",
    "fare_without_distance": "under 0.1 mi yet 8+ meter units on a metered trip",
    "fare_beyond_meter": "rate code 1 and a fare $2+ above 1.2x the most the meter can bill for the miles and minutes",
    "tip_beyond_fare": f"a tip above {TIP_FARE_RATIO:g}x the fare (at least $2.50), "
    f"{WHOLE_TIP_FARE_RATIO:g}x for a whole-dollar tip",
}


def _network(config: dict[str, Any], n_features: int) -> str:
    h1, h2 = config["hidden"]
    b = config["bottleneck"]
    return f"{2 * n_features}-{h1}-{h2}-{b}-{h2}-{h1}-{n_features}"


def _layers(dims: list[list[int]]) -> str:
    """Layer widths from the weight shapes (Gemm weights are [out, in] as torch exports them)."""
    if not dims:
        return "?"
    # The network's first layer reads features and mask (2K wide); earlier matrices are feature-graph tables.
    start = next((i for i, d in enumerate(dims) if d[1] == 2 * dims[-1][0]), 0)
    dims = dims[start:]
    return "-".join(str(d[1]) for d in dims) + f"-{dims[-1][0]}"


def cost_and_rules(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The "Rule checks that decide" and "Model size and cost" sections."""
    import jinja2
    import onnxruntime

    from export.cost import ROUNDS, SPACED_CALLS, WINDOWS
    from export.features import DECISIVE
    from export.model import DECIDED_SCORE

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    eras = results.get("eras", {})
    decisive = [
        {
            "name": name,
            "when": DECIDES_WHEN.get(name, ""),
            "decided_rates": {
                era: f"{e.get('rule_decided_rates', {}).get(name, math.nan):.4%}" for era, e in eras.items()
            },
        }
        for name in DECISIVE
    ]
    cost = results["cost"]
    cur, prev = cost["current"], cost["previous"]
    n_features = len(meta["feature_names"])
    prev_layers = prev.get("layers", [])
    previous_network = _layers(prev_layers)
    met_row = cur["per_row_us_batch_1024"] <= cost["goals"]["per_row_us_batch_1024"]
    met_call = cur["per_call_us_batch_1"] <= cost["goals"]["per_call_us_batch_1"]
    if met_row and met_call:
        note = "Both goals are met with the detection shown above."
    else:
        note = (
            "What is left: the network is sized to the features and its six group passes share one first-layer "
            "product (each pass subtracts only its hidden columns, and the last layer computes only the features "
            "that pass scores). The feature graph reads its inputs, the tariff in force and the zone and zone-pair "
            "tables with one split or one lookup each, but every rule check is still a few elementwise nodes: "
            f"{cur['nodes']} nodes in all, at {cur['per_call_us_batch_1'] / cur['nodes']:.2f} µs per node on "
            "average at batch 1, where ONNX Runtime's cost is per node whatever the node computes; called "
            f"{cost['spacing_ms']:.0f} ms apart, as in service, {cur['per_call_us_batch_1_spaced'] / cur['nodes']:.2f} "
            "µs per node, because the caches no longer hold the graph's code and state between calls. The batch-1 goal "
            "would need the whole model in a few dozen nodes, which means taking the rule checks out of the graph "
            "and giving up the one implementation that training, Triton and the tests share; the per-row goal needs "
            "the network's group passes and rarity curves, the larger share of the cost at batch 1,024, cut as well."
        )
    template = env.get_template("cost_and_rules.md.j2")
    return template.render(
        decided_score=f"{DECIDED_SCORE:.0f}",
        eras=list(eras),
        decisive=decisive,
        decided_share=f"{results['training']['calibration'].get('validation_decided_share', math.nan):.4%}",
        ort_version=onnxruntime.__version__,
        rows=1024,
        rounds=ROUNDS,
        windows=WINDOWS,
        spaced_calls=SPACED_CALLS,
        spacing_ms=f"{cost['spacing_ms']:.0f}",
        cpu_count=cost["cpu_count"],
        load=cost["load_average_1min"],
        version=results["model_version"],
        previous_version=results.get("previous_model", {}).get("model_version", "?"),
        # The trained shape: the exported graph factors the first and last layers, so its matrices are not the layers.
        network=_network(results["training"]["config"], n_features),
        previous_network=previous_network,
        current=cur,
        previous=prev,
        goals=cost["goals"],
        cost_note=note,
    )
