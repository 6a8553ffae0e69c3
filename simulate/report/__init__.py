"""The report: figures (PNG) and one self-contained report.html from a run's results (:mod:`simulate.report.page`), the tables, the words and the figures by group."""
