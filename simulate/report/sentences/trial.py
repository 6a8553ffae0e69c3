"""One trial in words: the story ``trialsim trial`` prints and the teaching lab shows, from the
trial's CONSORT counts, calendar, looks and endpoint."""

from __future__ import annotations

import math

from simulate.design import scenario as sc


def story_lines(scenario: sc.Scenario, seed: int, result) -> list[str]:
    """The story of one trial (a :class:`~simulate.engines.trial.TrialResult`) as ``trialsim trial``
    prints it, one line per item."""
    lines: list[str] = []
    echo = lines.append
    c, cal = result.consort, result.calendar
    arms = {a: scenario.arm(a).label for a in scenario.arm_names}
    fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
    echo(f"One simulated trial of '{scenario.name}' (seed {seed})\n")
    echo(f"  referred and screened      {c['referred']}")
    echo(f"  excluded                   {c['excluded_total']}")
    for rule, n in c["excluded"].items():
        if n:
            echo(f"    {rule:<24} {n}")
    echo(f"  deferred (washout/run-in)  {c['deferred']}  (lost meanwhile {c['lost_during_deferral']})")
    echo(f"  eligible, enrolment closed {c['not_randomised_enrolment_closed']}")
    echo(f"  randomised                 {c['randomised']} of {scenario.n_target}")
    for a, label in arms.items():
        echo(f"    {label:<24} {c['randomised_per_arm'][a]} randomised, "
             f"{c['discontinued_per_arm'][a]} dropped out, {c['analysed_per_arm'][a]} analysed")
    echo("")
    echo(f"  first / last randomisation month {fmt(cal['first_randomisation_month'])} / "
         f"{fmt(cal['last_randomisation_month'])} (planned window {scenario.trial.recruitment_months:g})")
    echo(f"  enrolment closed at month {fmt(cal['enrolment_closed_month'])}: {cal['enrolment_close_reason']}")
    echo(f"  trial duration {fmt(cal['duration_months'])} months"
         + ("   TERMINATED for slow accrual" if cal["terminated"] else ""))
    seq = result.sequential
    if seq is not None:
        from simulate.analysis.interim import design_for

        design = design_for(scenario)
        bayesian = design.scale == "posterior_probability"
        for k, (month, z, n) in enumerate(zip(seq["look_month"], seq["look_z"], seq["look_randomised"])):
            if month == month:                                  # held (not nan)
                final = k == len(seq["look_month"]) - 1
                if final:
                    held = sum(m == m for m in seq["look_month"][:-1])
                    bound = (f"success above {design.final_bound(held, n):.3f}" if bayesian
                             else f"efficacy bound {design.final_bound(held, n):.3f}")
                    verdict = "rejects H0" if seq["sequential_reject"] else "does not reject H0"
                elif bayesian:
                    bound = (f"efficacy above {design.efficacy[k]:.3f}" if math.isfinite(design.efficacy[k])
                             else "no efficacy stop") + (
                        f", futility if the predictive probability of success < {design.futility_below:g}"
                        if design.futility_below is not None else "")
                else:
                    bound = f"efficacy bound {design.efficacy[k]:.3f}" + (
                        f", futility bound {design.futility[k]:.3f}" if design.futility is not None else "")
                if not final:
                    verdict = ("stops for efficacy" if seq["stop_look"] == k and seq["stop_reason"] == 1 else
                               "stops for futility" if seq["stop_look"] == k else "continues")
                shown = f"posterior probability {z:.3f}" if bayesian else f"z = {z:.3f}"
                echo(f"  {'final analysis' if final else f'interim look {k + 1}'} at month {month:.1f}: "
                     f"{shown} ({bound}) with {n} randomised: {verdict}")
        if seq["stop_look"] >= 0:
            why = "efficacy" if seq["stop_reason"] == 1 else "futility"
            echo(f"  stopped for {why} at look {seq['stop_look'] + 1}, decided at month "
                 f"{seq['decision_month']:.1f}; the overrun analysis of all randomised gives "
                 + (f"posterior probability {seq['overrun_z']:.3f}" if bayesian else f"z = {seq['overrun_z']:.3f}"))
        echo(f"  H0 {'rejected' if seq['sequential_reject'] else 'not rejected'}")
    rem = result.remission_at_endpoint(scenario.trial.endpoint == "cr")
    what = "complete remission" if scenario.trial.endpoint == "cr" else "remission (CR or PR)"
    echo(f"  {what} at month "
         f"{scenario.trial.endpoint_month:g}, dropouts as failures: "
         + ", ".join(f"{arms[a]} {rem[a]:.2f}" if math.isfinite(rem[a]) else f"{arms[a]} - (none randomised)"
                     for a in scenario.arm_names))
    return lines
