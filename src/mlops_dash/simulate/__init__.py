"""Synthetic metric source (``mlops-dash simulate``).

``world``: series, behaviours, scenarios, history; ``levels``: alert targets and histogram
levels; ``derive``: the world of a spec set, one scenario per alert; ``situations``: hand-made
situations modelled on how the real exporters behave (each with the alerts that must fire and
those that must stay quiet); ``server``: the HTTP server.
"""

from mlops_dash.simulate.derive import build_world, catalogue_series, label_values, matches
from mlops_dash.simulate.levels import (
    chain_lookback,
    histogram_buckets,
    lookback_seconds,
    quantile_estimate,
    quantile_observation,
    targets,
)
from mlops_dash.simulate.server import Simulator
from mlops_dash.simulate.situations import Expect, Situation, situations
from mlops_dash.simulate.world import (
    HEALTHY,
    HISTORY_STEP_S,
    MAX_HISTORY_S,
    OTHER_NAMESPACES,
    WORLD_LABELS,
    Behaviour,
    HistoryPlan,
    Scenario,
    Series,
    SimulationError,
    Timeline,
    World,
    catalogue_inputs,
    recorded_in_ranges,
)

__all__ = [
    "HEALTHY", "HISTORY_STEP_S", "MAX_HISTORY_S", "OTHER_NAMESPACES", "WORLD_LABELS",
    "Behaviour", "Expect", "HistoryPlan", "Situation", "Scenario", "Series", "SimulationError",
    "Simulator",
    "Timeline", "World", "build_world", "catalogue_inputs", "catalogue_series",
    "chain_lookback", "histogram_buckets", "label_values", "lookback_seconds", "matches",
    "quantile_estimate", "quantile_observation", "recorded_in_ranges", "situations", "targets",
]
