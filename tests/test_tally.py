"""Block totals: merged tallies give the same operating characteristics as the trials themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulate.run.power import simulate_replicates, summarise
from simulate.design.loader import load_scenario
from simulate.run.tally import MONTHS_PER_BIN, Histogram, analyse_outcomes, merge, tally

from conftest import PLAIN_SCENARIO

DEFAULT = PLAIN_SCENARIO     # the registered design without intercurrent events


def assert_between_order_statistics(got: float, values: np.ndarray, q: float) -> None:
    """A q-quantile lies between the order statistics around rank q n, to the bin width."""
    x = np.sort(values)
    k = q * len(x)
    low, high = x[max(int(np.floor(k)) - 1, 0)], x[min(int(np.ceil(k)), len(x) - 1)]
    assert low - MONTHS_PER_BIN <= got <= high + MONTHS_PER_BIN, (got, low, high)


@pytest.fixture(scope="module")
def blocks():
    s = load_scenario(DEFAULT, ["simulation.block_size=40"])
    whole = simulate_replicates(s, 200, 3, 1, "batch")
    parts = [whole.take(slice(i, i + 40)) for i in range(0, 200, 40)]
    return s, whole, parts


def test_merged_block_tallies_equal_one_tally_of_all_trials(blocks):
    s, whole, parts = blocks
    a = summarise(s, merge([tally(s, p) for p in parts]), 3, "batch").to_dict()
    b = summarise(s, tally(s, whole), 3, "batch").to_dict()
    def same(x, y, key):
        if isinstance(x, (float, np.floating)):
            assert x == pytest.approx(y, rel=1e-12, abs=1e-12, nan_ok=True), key
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), key
            for k in x:
                same(x[k], y[k], f"{key}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), key
            for i, (u, v) in enumerate(zip(x, y)):
                same(u, v, f"{key}[{i}]")
        else:
            assert x == y, key

    for key in a:
        same(a[key], b[key], key)


def test_summary_matches_the_trials(blocks):
    s, whole, _ = blocks
    r = summarise(s, tally(s, whole), 3, "batch")
    res = analyse_outcomes(s, whole)
    assert r.rejections == int(res.success("any").sum()) == int(res.reject.sum()) and r.replicates == 200
    assert r.mean_randomised == pytest.approx(whole.randomised.mean())
    assert r.mean_dropouts == pytest.approx(whole.dropouts.mean())
    assert r.p_terminated == pytest.approx(whole.terminated.mean())
    (only,) = res.analyses
    ok = np.isfinite(only.risk_difference)
    assert r.mean_risk_difference == pytest.approx(only.risk_difference[ok].mean())
    assert r.risk_difference_bias_se == pytest.approx(only.risk_difference[ok].std(ddof=1) / np.sqrt(ok.sum()))
    # the share in the endpoint state at the endpoint visit, per arm, as the trials counted it
    end = s.trial.visit_months.index(s.trial.endpoint_month)
    for k, arm in enumerate(s.arm_names):
        share = whole.x_endpoint.sum(axis=1)[:, k] / whole.n_randomised.sum(axis=1)[:, k]
        (row,) = [v for v in r.remission_by_visit if v.arm == arm and v.month == s.trial.endpoint_month]
        assert row.remission == pytest.approx(share.mean())
        assert row.mc_se == pytest.approx(share.std(ddof=1) / np.sqrt(len(share)))
        np.testing.assert_array_equal(whole.x_visits[:, k, end], whole.x_endpoint.sum(axis=1)[:, k])
    for q, got in ((0.1, r.duration_months_q10), (0.5, r.duration_months_q50), (0.9, r.duration_months_q90)):
        assert_between_order_statistics(got, whole.duration_months, q)
    assert r.mean_duration_months == pytest.approx(whole.duration_months.mean())


def test_histogram_quantiles_and_edges():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 30, 5000)
    h = Histogram.of(np.append(x, [np.nan, 500.0]), top_months=50)
    assert h.n == 5001 and h.counts[-1] == 1           # NaN ignored, overflow in the last bin
    for q in (0.1, 0.5, 0.9):
        assert_between_order_statistics(h.quantile(q), np.append(x, 500.0), q)
    empty = Histogram.of(np.array([np.nan]), 10)
    assert empty.n == 0 and np.isnan(empty.mean) and np.isnan(empty.quantile(0.5))
