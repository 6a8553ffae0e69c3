"""Registered analyses: each compares an experimental arm with the control over a block of
simulated trials and returns the estimate, its interval and a decision statistic; decision
rules map the statistic to reject / continue / stop for futility at each look.

* :mod:`~simulate.analysis.registry`: the analyses' names, labels, capabilities (no numerics);
* :mod:`~simulate.analysis.base`: what an analysis takes and returns (``TwoArms``, ``Setting``,
  ``Estimates``);
* the analyses: :mod:`~simulate.analysis.fisher`, :mod:`~simulate.analysis.large_sample`
  (chi2, chi2_yates, ztest), :mod:`~simulate.analysis.noninferiority` (farrington_manning),
  :mod:`~simulate.analysis.cmh`, with :mod:`~simulate.analysis.intervals`;
* :mod:`~simulate.analysis.compare`: ``analyse`` and ``p_values`` by name;
* :mod:`~simulate.analysis.rules`: decision rules, multiplicity;
* :mod:`~simulate.analysis.interim`, :mod:`~simulate.analysis.sequential`,
  :mod:`~simulate.analysis.spending`: group-sequential designs;
* :mod:`~simulate.analysis.formulas`: closed-form and exact sample sizes.

Only the registry is re-exported here, so that importing it loads no numerics.
"""

from simulate.analysis.registry import Entry, Labels, entries, get, names, register, registered  # noqa: F401
