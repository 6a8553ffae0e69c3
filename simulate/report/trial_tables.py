"""The report's tables of the simulated patients: the CONSORT counts of the example trial beside
their means over all trials, the example trial's story and result per arm, and the eligibility
funnel of the simulated referrals.
"""

from __future__ import annotations

from markupsafe import Markup

from simulate.design import scenario as sc
from simulate.engines.block_outcomes import CONSORT_FIELDS
from simulate.report.formatting import Block, _f, _p, _table
from simulate.report.words import ENDPOINT_WORDS, label
from simulate.run.results import RunResults
from simulate.run.trial_results import ExampleTrial, ScreeningFunnel

_CONSORT_LABELS = {"referred": "Referred and screened", "excluded_total": "Excluded (criteria not met)",
                   "deferred": "Deferred (washout or run-in)", "lost_during_deferral": "Lost while deferred",
                   "not_randomised_enrolment_closed": "Not randomised: enrolment closed", "randomised": "Randomised"}
"""How each of :data:`simulate.engines.blocks.CONSORT_FIELDS` is named in the CONSORT table."""


def _consort_table(results: RunResults) -> Block:
    scenario, p = results.scenario, results.power
    ex = results.example_trial.consort
    names = {s.criterion: s.exclusion or s.description or s.criterion for s in results.screening.steps}
    rows = [[_CONSORT_LABELS[k], _f(getattr(ex, k), ","), _f(p.mean_consort[k], ",.1f")] for k in CONSORT_FIELDS]
    rows += [[f"Excluded: {names.get(k, k.replace('_', ' '))}", _f(v, ","), "—"] for k, v in ex.excluded.items() if v]
    for arm in scenario.arm_names:
        lab = scenario.arm(arm).label
        for counts, what in ((ex.randomised_per_arm, "allocated"), (ex.discontinued_per_arm, "dropped out"),
                             (ex.analysed_per_arm, "analysed")):
            rows.append([f"{lab}: {what}", _f(counts.get(arm), ","), "—"])
    return Block("CONSORT counts", (), (_table(
        ["Count", "Example trial", f"Mean over {_f(p.replicates, ',')} simulated trials"], rows, numeric={1, 2},
        caption="CONSORT counts of the example trial and their means (as consort.csv)"),))


def _example_trial(scenario: sc.Scenario, ex: ExampleTrial, seed: int) -> Block:
    """The example trial's story in a few lines: its calendar, then each arm's patients and result."""
    c, cal = ex.consort, ex.calendar
    month = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    if c.randomised:
        when = (f"{c.randomised:,} of {scenario.n_target:,} patients were randomised between months "
                f"{month(cal.first_randomisation_month)} and {month(cal.last_randomisation_month)} (planned window "
                f"{scenario.trial.recruitment_months:g} months); enrolment closed at month "
                f"{month(cal.enrolment_closed_month)} ({cal.enrolment_close_reason}), and the trial lasted "
                f"{month(cal.duration_months)} months")
    else:
        when = f"no patient was randomised before enrolment closed (target {scenario.n_target:,})"
    story = Markup("Trial 0 of seed {} (the trial <code>trialsim trial</code> tells patient by patient): {}{}.").format(
        seed, when, ", terminated short of its target" if cal.terminated else "")
    what = ENDPOINT_WORDS[scenario.trial.endpoint]
    rows = []
    for arm in scenario.arm_names:
        share = ex.remission_at_endpoint.get(arm)
        rows.append([label(scenario, arm) + (" (control)" if arm == scenario.control_arm else ""),
                     _f(c.randomised_per_arm.get(arm), ","), _f(c.discontinued_per_arm.get(arm), ","),
                     _f(c.analysed_per_arm.get(arm), ","), _f(share, ".2f"),
                     _f(scenario.arm(arm).remission_at_endpoint, ".2f")])
    head = ["Arm", "Randomised", "Dropped out", "Analysed",
            f"In {what} at month {scenario.trial.endpoint_month:g} (dropouts as failures)", "Assumed"]
    return Block("The example trial", (_p(story, note=False),), (
        _table(head, rows, numeric={1, 2, 3, 4, 5}, caption="The example trial per arm"),))


def _funnel_table(screening: ScreeningFunnel) -> Block | None:
    if not screening.steps:
        return None
    rows = [[s.description or s.criterion, s.kind, _f(s.failing, ","), _f(s.excluded, ","), _f(s.deferred, ","),
             _f(s.remaining, ",")] for s in screening.steps]
    return Block(f"Eligibility funnel of {_f(screening.screened, ',')} simulated referrals", (_p(
        "Criteria in the registry's order; a patient is counted at the first criterion failed. Time-dependent "
        "criteria (washout, run-in) defer rather than exclude."),), (
        _table(["Criterion", "Kind", "Failing", "Excluded here", "Deferred here", "Remaining"], rows,
               numeric={2, 3, 4, 5}, caption="Eligibility funnel (as funnel.csv)"),))
