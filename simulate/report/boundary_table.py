"""A group-sequential design's boundaries as rpact's ``summary(getDesignGroupSequential(...))``
prints them: each look's efficacy and futility bound on the z scale, as a one-sided nominal p
value and on the risk-difference scale, with the cumulative alpha (and beta) spent, beside the
simulated chance of stopping there under H0 (the null world) and under the assumed effect
(``boundaries.csv``; the report's interim section). A Bayesian design's looks have no z bound
and no spending; its table is the looks table.

The risk difference at a bound is the difference (experimental minus control) whose look
statistic equals the bound at the look's planned information, with the standard error the
design's own rates give there (after dropout): SE_k = (Δ + margin) / drift / √t_k, so the bound
d_k = z_k · SE_k − margin (rpact's "critical values on the treatment effect scale", under the
same normal approximation).
"""

from __future__ import annotations

import math

from scipy import special

from simulate.report.formatting import _f, _table
from simulate.run.results import RunResults

BOUNDARY_COLUMNS = ("look", "information_fraction", "efficacy_z", "efficacy_nominal_p", "efficacy_risk_difference",
                    "cumulative_alpha_spent", "futility_z", "futility_nominal_p", "futility_risk_difference",
                    "cumulative_beta_spent", "p_stop_efficacy_h0", "p_stop_efficacy_h1", "p_stop_futility_h0",
                    "p_stop_futility_h1")
"""Columns of ``boundaries.csv``."""


def _p(z: float | None) -> float | None:
    """One-sided nominal p value of a z bound (None where there is no bound)."""
    if z is None or not math.isfinite(z):
        return None
    return float(special.ndtr(-z))


def boundary_rows(results: RunResults) -> list[dict]:
    """One row per look (empty for a Bayesian design or one without looks)."""
    from simulate.analysis import interim
    from simulate.analysis.spending import cumulative_spending

    s, p = results.scenario, results.power
    design = interim.design_for(s) if p.looks else None
    if design is None or getattr(design, "scale", "") == "posterior_probability":
        return []
    i = s.interim
    t = list(design.fractions)
    gamma = i.hsd_gamma if i.efficacy_spending == "hwang_shih_decani" else None
    if i.efficacy_spending == "none":
        alpha_spent = [0.0] * (len(t) - 1) + [s.analysis.alpha]
    else:
        alpha_spent = [float(v) for v in cumulative_spending(t, s.analysis.alpha, i.efficacy_spending, gamma)]
    beta_spent = ([float(v) for v in cumulative_spending(t, i.futility_beta, i.efficacy_spending, gamma)]
                  if i.futility == "beta_spending" and i.efficacy_spending != "none" else None)
    delta = p.true_difference if math.isfinite(p.true_difference) else math.nan
    margin = s.analysis.margin if s.analysis.hypothesis == "non_inferiority" else 0.0
    se_full = (delta + margin) / design.drift if design.drift and math.isfinite(design.drift) else math.nan
    null_looks = (p.null_world or {}).get("looks", [])
    rows = []
    for k, f in enumerate(t):
        se = se_full / math.sqrt(f) if f > 0 else math.nan
        eff = float(design.efficacy[k])
        fut = float(design.futility[k]) if design.futility is not None and k < len(t) - 1 else None
        h0 = null_looks[k] if k < len(null_looks) else {}
        h1 = p.looks[k]
        rows.append({
            "look": k + 1, "information_fraction": f,
            "efficacy_z": eff if math.isfinite(eff) else None, "efficacy_nominal_p": _p(eff),
            "efficacy_risk_difference": eff * se - margin if math.isfinite(eff) and math.isfinite(se) else None,
            "cumulative_alpha_spent": alpha_spent[k],
            "futility_z": fut if fut is not None and math.isfinite(fut) else None, "futility_nominal_p": _p(fut),
            "futility_risk_difference": fut * se - margin if fut is not None and math.isfinite(fut)
            and math.isfinite(se) else None,
            "cumulative_beta_spent": beta_spent[k] if beta_spent is not None else None,
            "p_stop_efficacy_h0": h0.get("p_stop_efficacy"), "p_stop_efficacy_h1": h1.p_stop_efficacy,
            "p_stop_futility_h0": h0.get("p_stop_futility") if k < len(t) - 1 else None,
            "p_stop_futility_h1": h1.p_stop_futility if k < len(t) - 1 else None,
        })
    return rows


def boundary_table(results: RunResults):
    """The rows as the report shows them (None without z-scale looks)."""
    rows = boundary_rows(results)
    if not rows:
        return None
    beta = any(r["cumulative_beta_spent"] is not None for r in rows)
    head = ["Look", "Information", "Efficacy z", "Nominal p", "Risk difference", "Cumulative α spent",
            "Futility z", "Nominal p (futility)", "Risk difference (futility)",
            *(["Cumulative β spent"] if beta else []), "Stop for efficacy: H0 / assumed",
            "Stop for futility: H0 / assumed"]

    def pair(a, b) -> str:
        return "—" if a is None and b is None else f"{_f(a)} / {_f(b)}"

    body = [[str(r["look"]), _f(r["information_fraction"], ".2f"), _f(r["efficacy_z"]), _f(r["efficacy_nominal_p"], ".4f"),
             _f(r["efficacy_risk_difference"], "+.3f"), _f(r["cumulative_alpha_spent"], ".4f"), _f(r["futility_z"]),
             _f(r["futility_nominal_p"], ".4f"), _f(r["futility_risk_difference"], "+.3f"),
             *([_f(r["cumulative_beta_spent"], ".4f")] if beta else []),
             pair(r["p_stop_efficacy_h0"], r["p_stop_efficacy_h1"]),
             pair(r["p_stop_futility_h0"], r["p_stop_futility_h1"])] for r in rows]
    return _table(head, body, numeric=set(range(1, len(head))),
                  caption="Boundaries on the z, nominal p and risk-difference scales, with the error spent "
                          "(as boundaries.csv)")
