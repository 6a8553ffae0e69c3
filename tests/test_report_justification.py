"""The protocol's sample-size justification: justification.md in the run's folder and the
report's section id="justification", the same text, every number the run's own."""

from __future__ import annotations

import html
import re

import pytest

from simulate.design.loader import load_scenario
from simulate.run.main_job import run_all, run_files

from conftest import report_section

SMALL = ["simulation.block_size=50", "sweep={}"]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


@pytest.mark.parametrize("name, extra", [("nct04743739", ()), ("mentor", ()), ("bayes_interim", ())],
                         ids=["registered", "non-inferiority", "bayesian-looks"])
def test_the_justification_is_written_and_shown_with_the_runs_numbers(name, extra, tmp_path):
    s = load_scenario(name, [*SMALL, *extra])
    results = run_all(s, tmp_path / "out", replicates=120)
    p = results.power
    text = (tmp_path / "out" / "justification.md").read_text(encoding="utf-8")
    assert "justification.md" in run_files(s)
    assert text.startswith(f"# Sample-size justification: {s.name}")
    assert f"the design's power is {p.power:.3f} (Monte Carlo SE {p.mc_se:.3f}" in text
    assert f"Over {p.replicates:,} simulated trials (seed {results.seed})" in text
    assert "`trialsim run" in text and "--replicates 120" in text
    for search in results.samplesize.searches:
        if search.n_per_arm is not None:
            assert f"{search.target:.0%} power needs {search.n_per_arm} per arm" in text
    shown = _text(report_section(tmp_path / "out", "justification-section"))
    for paragraph in text.split("\n\n")[1:]:
        assert _text(paragraph.replace("`", "")).strip() in shown.replace("`", "")
    if s.analysis.hypothesis == "non_inferiority":
        assert f"margin {s.analysis.margin:g}" in text
    if s.analysis.framework == "bayesian":
        assert f"exceeds {s.analysis.success_threshold:g}" in text and "interim look" in text
