"""The screen: each registered criterion defined once (:mod:`~simulate.screening.criteria`),
and what derives from it: the cohort's screen (:mod:`~simulate.screening.screen`), the fates'
screen on uniforms (:mod:`~simulate.screening.uniforms`), the exact pass probabilities
(:mod:`~simulate.screening.probabilities`) and the quick feasibility bounds
(:mod:`~simulate.screening.feasibility`). Import the module you need: this package re-exports
nothing, so validating a scenario loads neither numpy nor scipy."""
