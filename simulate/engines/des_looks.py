"""The interim looks of a discrete-event trial (:class:`simulate.engines.des_model.TrialModel`
holds them as a mixin): a look each time the determined endpoints reach its count, its
statistic of the patients determined so far as the analysis counts them, the decision and the
stop it brings after the decision lag, and the final analysis of every randomised patient.
The batch engine computes the same from arrays (:func:`simulate.engines.batch.group_sequential`);
the agreement tests compare them trial by trial."""

from __future__ import annotations

import numpy as np

from simulate.analysis import interim
from simulate.engines.des_follow_up import Patient


class InterimLooks:
    """What a trial model with interim looks does at them (its ``design``, ``enrolment``,
    ``determined``, ``look_rows``, ``stop`` and ``decision_month`` are the model's)."""

    def determined_now(self, p: Patient) -> None:
        """A patient's endpoint has just been determined: hold every look whose count of
        determined endpoints this completes, unless it is the final analysis (enrolment closed
        and nobody left to determine)."""
        self.determined.append(p)
        d, e = self.design, self.enrolment
        while self.stop is None and self.next_look < d.looks - 1 and len(self.determined) == d.counts[self.next_look]:
            if e.closed_month is not None and len(e.randomised) == len(self.determined):
                return
            k = self.next_look
            self.next_look += 1
            statistic, decision = d.look(k, *self.counts_of(self.determined), patients=self.patients_of(self.determined))
            z, decision = float(statistic[0]), int(decision[0])
            self.look_rows.append((self.env.now, len(e.randomised), z))
            shown = f"posterior probability {z:.3f}" if d.scale == "posterior_probability" else f"z = {z:.3f}"
            self.tell(-1, f"interim look {k + 1}", f"{shown}, {len(self.determined)} endpoints")
            if decision != interim.NONE:
                self.stop = (k, decision)
                self.env.process(self.stop_after(k, decision))

    def stop_after(self, k: int, decision: int):
        """The decision to stop, the decision lag after the look's data cut: enrolment closes."""
        yield self.env.timeout(self.design.lag_months)
        e = self.enrolment
        if e.closed_month is not None and len(self.determined) == len(e.randomised):
            self.stop = None                    # the final analysis came first: it decides
            self.tell(-1, f"decision of look {k + 1} void", "after the final analysis")
            return
        self.decision_month = self.env.now
        self.close(f"stopped for {'efficacy' if decision == interim.EFFICACY else 'futility'} at look {k + 1}")

    def z_of(self, patients: list[Patient]) -> float:
        """The design's statistic of these patients' data as the analysis counts it."""
        return float(self.design.statistic(*self.counts_of(patients), patients=self.patients_of(patients))[0])

    def counted(self, patients: list[Patient]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(responder, analysed, experimental) per patient as the analysis counts them (the
        estimand's variable with intercurrent events, the missing-data strategy)."""
        missing, state, c = self.sc.analysis.missing, self.endpoint_state, self.sc.control_index
        x, n = [], []
        for p in patients:
            if self.ice is not None:                             # the estimand's variable
                value, carried = self.endpoint_value(p)
                n.append(not (missing == "complete_case" and value < 0))
                x.append((carried if missing == "locf" else value) > 0)
                continue
            dropped = p.dropout_month == p.dropout_month        # not nan: dropped before the endpoint
            n.append(not (missing == "complete_case" and dropped))
            x.append((p.locf if missing == "locf" else p.visit_status[self.endpoint_visit]) >= state)
        return (np.array(x, dtype=bool), np.array(n, dtype=bool),
                np.array([p.arm != c for p in patients], dtype=bool))

    def counts_of(self, patients: list[Patient]) -> tuple[np.ndarray, ...]:
        """(x_c, n_c, x_t, n_t) of these patients as the analysis counts them, as 1-element arrays."""
        x, n, t = self.counted(patients)
        return (np.array([(x & n & ~t).sum()]), np.array([(n & ~t).sum()]), np.array([(x & n & t).sum()]),
                np.array([(n & t).sum()]))

    def patients_of(self, patients: list[Patient]):
        """These patients one by one as :meth:`counts_of` counts them, for a look statistic that
        reads covariates (:func:`simulate.analysis.adjusted.patients_of`, one trial); None otherwise."""
        analysis = getattr(self.design, "analysis", None)
        if analysis is None or not analysis.covariates:
            return None
        from simulate.analysis.adjusted import patients_of

        x, n, t = self.counted(patients)
        cov = self.covariates(np.array([p.slot for p in patients], dtype=int))
        baseline = np.stack([cov["pla2r_titre_ru_ml"], cov["proteinuria_g_day"]], axis=-1)[None]
        return patients_of(n[None], t[None], x[None], baseline, self.sc)

    def sequential_result(self) -> dict:
        """The looks held, the stop if any, and the final analysis (every randomised patient)."""
        d, e = self.design, self.enrolment
        L, n = d.looks, len(e.randomised)
        look_month, look_randomised, look_z = np.full(L, np.nan), np.zeros(L, dtype=np.int32), np.full(L, np.nan)
        for j, (month, randomised, z) in enumerate(self.look_rows):
            look_month[j], look_randomised[j], look_z[j] = month, randomised, z
        z_all = self.z_of(e.randomised)
        if self.stop is None:
            look_randomised[-1] = n
            reject, decision_month = False, np.nan
            if n:
                final = max(max(p.month + p.finish for p in e.randomised), e.closed_month)
                look_month[-1], look_z[-1], decision_month = final, z_all, final
                reject = d.decide_final(z_all, len(self.look_rows), n) == interim.EFFICACY
            stop_look, stop_reason = -1, interim.NONE
        else:
            (stop_look, stop_reason), decision_month = self.stop, self.decision_month
            reject = stop_reason == interim.EFFICACY
        return {"look_month": look_month, "look_randomised": look_randomised, "look_z": look_z,
                "stop_look": stop_look, "stop_reason": stop_reason, "decision_month": decision_month,
                "sequential_reject": bool(reject), "overrun_z": z_all}
