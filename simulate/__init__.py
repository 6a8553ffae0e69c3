"""trialsim: simulate randomised clinical trials, from synthetic patients to Monte Carlo power."""

__version__ = "0.1.0"
