"""The named choices a scenario or a command may make, each list defined once.

They live here, apart from the code that acts on them, so that reading a scenario or the
command line's options imports no numerics; some are re-exported where they belong:
:data:`simulate.engines.ENGINES` and :data:`simulate.engines.DEFAULT_ENGINE`. (The parallel
backends are :data:`simulate.run.parallel.BACKENDS`.) The tests a scenario may name
(``analysis.test``) are the registered analyses: ``TESTS`` reads
:func:`simulate.analysis.registry.names` whenever it is read.
"""
MULTIPLICITY = ("none", "bonferroni", "holm")
"""Adjustments for comparing several experimental arms with one control (``analysis.multiplicity``)."""
ALTERNATIVES = ("two-sided", "greater")
"""``greater``: one-sided, the treatment arm better than the control."""
MISSING_STRATEGIES = ("nonresponder", "complete_case", "locf", "mi_mar", "mi_j2r")
"""How missing endpoints enter the analysis: as failures (all randomised analysed), left out,
with the status of their last attended visit (see
:meth:`simulate.engines.block_outcomes.BlockOutcomes.counts`), or multiply imputed
(:mod:`simulate.analysis.visit_imputation`)."""
IMPUTATION_STRATEGIES = ("mi_mar", "mi_j2r")
"""The missing-data strategies that impute (the analysis reads the patients one by one)."""
ADJUSTMENTS = ("none", "g_computation", "mantel_haenszel")
"""Covariate adjustment of the analysis (``analysis.adjustment``): none, g-computation over a
logistic working model (:mod:`simulate.analysis.adjusted`), or the Mantel-Haenszel risk
difference over the randomisation strata. Each is a registered analysis of the same name."""
ADJUSTMENT_VARIANCES = ("model_robust", "delta_method")
"""The variance of a g-computation estimate (``analysis.adjustment_variance``): the model-robust
formula of Ye, Shao, Yi & Zhao (2023), or the delta method of Ge et al. (2011)."""
BASELINE_COVARIATES = ("pla2r_titre_ru_ml", "proteinuria_g_day")
"""The baseline covariates an adjusted analysis may use, named as in ``patients.csv`` (every
engine carries them for every randomised patient); ``log2(name)`` of each is allowed too."""
ENGINES = ("batch", "des")
"""The trial engines: ``batch`` (a block of trials as array arithmetic) and ``des`` (each trial as a
discrete-event simulation). Both give the same trials from the same fates."""
DEFAULT_ENGINE = "batch"
"""The engine used unless another is asked for (the library's and the command line's default)."""


def __getattr__(name: str):
    """``TESTS``: the registered analyses' ids, as registered now."""
    if name == "TESTS":
        from simulate.analysis.registry import names

        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
