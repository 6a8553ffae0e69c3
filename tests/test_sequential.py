"""simulate.analysis.sequential: group-sequential boundaries against R's rpact, Monte Carlo paths and
published constants.

Every reference number below was produced by R 4.2.2 with rpact 3.3.4 (the call is in the comment
above it; ``f <- function(x) formatC(x, digits = 12, format = "f")`` printed them); the suite does
not need R. rpact integrates with a 91-point Newton-Cotes rule and solves its bounds to a tolerance
of 1e-8, so its numbers are good to a few 1e-8: the bounds are compared at 1e-7 and
the probabilities at 1e-8. (gsDesign, the second R reference asked for, is not packaged for this
machine's Debian and CRAN cannot be reached from it.)
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from conftest import ROOT
from simulate.analysis import sequential
from simulate.numerics import find_root, integrate
from simulate.analysis.sequential import (
    beta_spending_design,
    beta_spending_futility,
    conditional_power,
    crossing_probabilities,
    cumulative_spending,
    drift_for_power,
    efficacy_bounds,
    spending,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

ALPHA = 0.025
BOUND_TOL = 1e-7        # rpact's bounds carry errors of up to ~6e-8
PROB_TOL = 1e-8

# ((spending, gamma, fractions), rpact criticalValues), one-sided alpha = 0.025.
ALPHA_SPENDING = [
    # getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.5, 1))$criticalValues
    (("obrien_fleming", None, (0.5, 1.0)), (2.962588042728, 1.968595646322)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3) / 3)$criticalValues
    (("obrien_fleming", None, (1 / 3, 2 / 3, 1.0)), (3.710302873263, 2.511427484453, 1.993047483265)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3, 4) / 4)$criticalValues
    (("obrien_fleming", None, (0.25, 0.5, 0.75, 1.0)),
     (4.332633646050, 2.963131599128, 2.359044276178, 2.014090143144)),
    # getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues
    (("obrien_fleming", None, (0.2, 0.4, 0.6, 0.8, 1.0)),
     (4.876884948791, 3.357011921704, 2.680280067027, 2.289816774428, 2.031032063067)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.3, 0.7, 1))$criticalValues
    (("obrien_fleming", None, (0.3, 0.7, 1.0)), (3.928572542627, 2.438742376864, 2.000008575618)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues
    (("obrien_fleming", None, (0.25, 0.5, 0.8, 1.0)),
     (4.332633646050, 2.963131599128, 2.266213141382, 2.027800224721)),
    # getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.5, 1))$criticalValues
    (("pocock", None, (0.5, 1.0)), (2.156999218345, 2.200976975262)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3) / 3)$criticalValues
    (("pocock", None, (1 / 3, 2 / 3, 1.0)), (2.279428238917, 2.294911138713, 2.295939587057)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3, 4) / 4)$criticalValues
    (("pocock", None, (0.25, 0.5, 0.75, 1.0)),
     (2.368327703524, 2.367524288595, 2.358168311417, 2.350035972893)),
    # getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues
    (("pocock", None, (0.2, 0.4, 0.6, 0.8, 1.0)),
     (2.437976688050, 2.426813863218, 2.410194136202, 2.396649293602, 2.385999701917)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.3, 0.7, 1))$criticalValues
    (("pocock", None, (0.3, 0.7, 1.0)), (2.311835303806, 2.258346356452, 2.306182883680)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues
    (("pocock", None, (0.25, 0.5, 0.8, 1.0)),
     (2.368327703524, 2.367524288595, 2.327061615884, 2.369728945196)),
    # getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.5, 1))$criticalValues
    (("hwang_shih_decani", -4.0, (0.5, 1.0)), (2.749965931835, 1.981131471694)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3) / 3)$criticalValues
    (("hwang_shih_decani", -4.0, (1 / 3, 2 / 3, 1.0)), (3.010739485386, 2.546530552208, 1.999226354063)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3, 4) / 4)$criticalValues
    (("hwang_shih_decani", -4.0, (0.25, 0.5, 0.75, 1.0)),
     (3.155373032660, 2.818347148597, 2.439131803811, 2.013647325337)),
    # getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues
    (("hwang_shih_decani", -4.0, (0.2, 0.4, 0.6, 0.8, 1.0)),
     (3.252668488441, 2.986045949161, 2.691657446325, 2.373666994274, 2.025321416557)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.3, 0.7, 1))$criticalValues
    (("hwang_shih_decani", -4.0, (0.3, 0.7, 1.0)), (3.066699549322, 2.483666397631, 2.002767421305)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues
    (("hwang_shih_decani", -4.0, (0.25, 0.5, 0.8, 1.0)),
     (3.155373032660, 2.818347148597, 2.347160540521, 2.022028692067)),
    # getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.5, 1))$criticalValues
    (("hwang_shih_decani", -2.0, (0.5, 1.0)), (2.471704250634, 2.024655468762)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3) / 3)$criticalValues
    (("hwang_shih_decani", -2.0, (1 / 3, 2 / 3, 1.0)), (2.677523953433, 2.385417930782, 2.063740424812)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3, 4) / 4)$criticalValues
    (("hwang_shih_decani", -2.0, (0.25, 0.5, 0.75, 1.0)),
     (2.802118880383, 2.580104075372, 2.340791709721, 2.090340636671)),
    # getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues
    (("hwang_shih_decani", -2.0, (0.2, 0.4, 0.6, 0.8, 1.0)),
     (2.890282140113, 2.708488248289, 2.514076344669, 2.314999081194, 2.109954021871)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.3, 0.7, 1))$criticalValues
    (("hwang_shih_decani", -2.0, (0.3, 0.7, 1.0)), (2.724812317292, 2.334634579718, 2.069720484316)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues
    (("hwang_shih_decani", -2.0, (0.25, 0.5, 0.8, 1.0)),
     (2.802118880383, 2.580104075372, 2.274608440697, 2.103053651750)),
    # getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.5, 1))$criticalValues
    (("hwang_shih_decani", 1.0, (0.5, 1.0)), (2.155496956164, 2.202696599066)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3) / 3)$criticalValues
    (("hwang_shih_decani", 1.0, (1 / 3, 2 / 3, 1.0)), (2.283141355888, 2.284441255033, 2.301255367696)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3, 4) / 4)$criticalValues
    (("hwang_shih_decani", 1.0, (0.25, 0.5, 0.75, 1.0)),
     (2.376102527169, 2.357132278383, 2.349901191890, 2.357468537986)),
    # getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues
    (("hwang_shih_decani", 1.0, (0.2, 0.4, 0.6, 0.8, 1.0)),
     (2.448677249738, 2.418984703720, 2.398381702602, 2.391234062612, 2.394773401320)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.3, 0.7, 1))$criticalValues
    (("hwang_shih_decani", 1.0, (0.3, 0.7, 1.0)), (2.317050575564, 2.247877560556, 2.311988852918)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues
    (("hwang_shih_decani", 1.0, (0.25, 0.5, 0.8, 1.0)),
     (2.376102527169, 2.357132278383, 2.320228688419, 2.378025151789)),
]

# Designs with futility bounds, and getDesignCharacteristics(design) of each: "shift" is
# drift^2 (drift = theta sqrt(I_max) at power 1 - beta), "nFixed" = (z_{1-alpha} + z_{1-beta})^2,
# "ASN1"/"ASN0" the expected information over nFixed at the drift / at 0, with the futility
# bounds stopping the trial. For beta-spending designs "betaSpent" and "power" are the design's
# cumulative ones. fractions None = rpact's default equal spacing.
DESIGNS = {
    "OF+bsOF nonbinding": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsOF", bindingFutility=FALSE); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
        beta_spending=("obrien_fleming", None), binding=False,
        critical=(3.710302873263, 2.511427484453, 1.993047483265),
        futility=(-0.236144609880, 1.170372031163),
        beta_spent=(0.026438294765, 0.116514318956, 0.199999998822),
        power=(0.022188088065, 0.457290748915, 0.799999999427),
        shift=8.667784932090, n_fixed=7.848879734349,
        rejection=(0.022188088130, 0.435102661479, 0.342709250391),
        futility_probabilities=(0.026438294689, 0.090076023930),
        asn1=0.875209946775, asn0=0.627409515077),
    "OF+bsOF binding": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsOF", bindingFutility=TRUE); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
        beta_spending=("obrien_fleming", None), binding=True,
        critical=(3.710302873263, 2.511108435690, 1.930915720761),
        futility=(-0.270005563803, 1.122484607156),
        beta_spent=(0.026438294942, 0.116514320209, 0.200000000075),
        power=(0.020457960985, 0.438519380760, 0.799999998327),
        shift=8.325887012615, n_fixed=7.848879734349,
        rejection=(0.020457961164, 0.418061421613, 0.361480617224),
        futility_probabilities=(0.026438294720, 0.090076024504),
        asn1=0.847936728754, asn0=0.610695336626),
    "OF+bsP nonbinding": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsP", bindingFutility=FALSE); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
        beta_spending=("pocock", None), binding=False,
        critical=(3.710302873263, 2.511427484453, 1.993047483265),
        futility=(0.465943607990, 1.318005551118),
        beta_spent=(0.090566485053, 0.152676503772, 0.200000000342),
        power=(0.028254822010, 0.511212834336, 0.799999999713),
        shift=9.754789339872, n_fixed=7.848879734349,
        rejection=(0.028254822051, 0.482958012639, 0.288787165290),
        futility_probabilities=(0.090566484950, 0.062110018630),
        asn1=0.918568054422, asn0=0.577713275818),
    "P+bsP binding unequal": dict(
        # d <- getDesignGroupSequential(kMax=4, alpha=0.025, beta=0.1, sided=1, typeOfDesign="asP", typeBetaSpending="bsP", informationRates=c(0.25, 0.5, 0.8, 1), bindingFutility=TRUE); dc <- getDesignCharacteristics(d)
        fractions=(0.25, 0.5, 0.8, 1.0), beta=0.1, spending=("pocock", None),
        beta_spending=("pocock", None), binding=True,
        critical=(2.368327703524, 2.364882551134, 2.289229892194, 2.210432238877),
        futility=(0.069768482067, 0.903936397750, 1.715043378528),
        beta_spent=(0.035737401951, 0.062011450820, 0.086483972342, 0.100000000146),
        power=(0.309908296863, 0.635477044516, 0.852058454526, 0.899999999512),
        shift=14.020792073366, n_fixed=10.507423061441,
        rejection=(0.309908297457, 0.325568747933, 0.216581409784, 0.047941544827),
        futility_probabilities=(0.035737401819, 0.026274048739, 0.024472521379),
        asn1=0.689380394582, asn0=0.553197313033),
    "HSD(-4)+bsHSD(-2) nonbinding unequal": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asHSD", gammaA=-4, typeBetaSpending="bsHSD", gammaB=-2, informationRates=c(0.3, 0.7, 1), bindingFutility=FALSE); dc <- getDesignCharacteristics(d)
        fractions=(0.3, 0.7, 1.0), beta=0.2, spending=("hwang_shih_decani", -4.0),
        beta_spending=("hwang_shih_decani", -2.0), binding=False,
        critical=(3.066699549322, 2.483666397631, 2.002767421305),
        futility=(-0.358501962279, 1.053000988904),
        beta_spent=(0.025735219503, 0.095638539671, 0.200000001905),
        power=(0.069748742250, 0.481483719372, 0.799999999723),
        shift=8.416770030400, n_fixed=7.848879734349,
        rejection=(0.069748742324, 0.411734977386, 0.318516280289),
        futility_probabilities=(0.025735219470, 0.069903320061),
        asn1=0.845732389236, asn0=0.638547536941),
    "OF no futility": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF"); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
        critical=(3.710302873263, 2.511427484453, 1.993047483265), futility=None,
        shift=7.949304680229, n_fixed=7.848879734349,
        rejection=(0.018648776258, 0.398800168185, 0.382551055556),
        futility_probabilities=(0.0, 0.0),
        asn1=0.865568975227, asn0=1.010717942630),
    "P no futility unequal": dict(
        # d <- getDesignGroupSequential(kMax=4, alpha=0.025, beta=0.1, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1)); dc <- getDesignCharacteristics(d)
        fractions=(0.25, 0.5, 0.8, 1.0), beta=0.1, spending=("pocock", None),
        critical=(2.368327703524, 2.367524288595, 2.327061615884, 2.369728945196), futility=None,
        shift=12.401096830677, n_fixed=10.507423061441,
        rejection=(0.271736965349, 0.305236057169, 0.241571438928, 0.081455538581),
        futility_probabilities=(0.0, 0.0, 0.0),
        asn1=0.702545081071, asn0=1.166993776533),
    "OF futility (0, 0.5) binding": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", futilityBounds=c(0, 0.5), bindingFutility=TRUE); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None), binding=True,
        critical=(3.710302873263, 2.510358102620, 1.964951954782), futility=(0.0, 0.5),
        shift=8.203188520710, n_fixed=7.848879734349,
        rejection=(0.019857454575, 0.411617808282, 0.368524737142),
        futility_probabilities=(0.049104307571, 0.017946957031),
        asn1=0.847439499417, asn0=0.611333819600),
    "OF futility (0, 0.5) nonbinding": dict(
        # d <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", futilityBounds=c(0, 0.5), bindingFutility=FALSE); dc <- getDesignCharacteristics(d)
        fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None), binding=False,
        critical=(3.710302873263, 2.511427484453, 1.993047483265), futility=(0.0, 0.5),
        shift=8.338426309706, n_fixed=7.848879734349,
        rejection=(0.020519934536, 0.418089965883, 0.361390099581),
        futility_probabilities=(0.047739718031, 0.017219298882),
        asn1=0.859873392658, asn0=0.621418670856),
}
BETA_SPENDING = [name for name, d in DESIGNS.items() if "beta_spending" in d]

# Cumulative alpha spent (rpact integrates it at its bounds, hence 0.02499999 at the end).
ALPHA_SPENT = [
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF")$alphaSpent
    (("obrien_fleming", None, (1 / 3, 2 / 3, 1.0)), (0.000103505718, 0.006048389077, 0.024999990000)),
    # getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1))$alphaSpent
    (("pocock", None, (0.25, 0.5, 0.8, 1.0)),
     (0.008934350488, 0.015502862820, 0.021620993066, 0.025000000000)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.3, 0.7, 1))$alphaSpent
    (("hwang_shih_decani", -2.0, (0.3, 0.7, 1.0)), (0.003216902417, 0.011954817283, 0.025000000000)),
    # getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.3, 0.7, 1))$alphaSpent
    (("hwang_shih_decani", 1.0, (0.3, 0.7, 1.0)), (0.010250488443, 0.019909758128, 0.024999990000)),
]

# Pocock's constant boundary, one-sided 0.025 (two-sided 0.05), equally spaced looks:
# getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="P")$criticalValues
POCOCK_K2 = 2.178272094823
# getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="P")$criticalValues
POCOCK_K5 = 2.413180287054
# Jennison & Turnbull (2000), Table 2.1, C_P(K, 0.05) two-sided: 2.178 (K = 2), 2.413 (K = 5).
JT_POCOCK = {2: 2.178, 5: 2.413}


def ids(case):
    (name, gamma, t), _ = case
    return f"{name}{'' if gamma is None else f'({gamma:g})'}-{len(t)}-{'/'.join(f'{v:.2g}' for v in t)}"


# ----------------------------------------------------------------------------- alpha-spending


@pytest.mark.parametrize("case", ALPHA_SPENDING, ids=ids)
def test_efficacy_bounds_match_rpact(case):
    (name, gamma, t), expected = case
    bounds = efficacy_bounds(t, ALPHA, name, gamma)
    np.testing.assert_allclose(bounds, expected, rtol=0, atol=BOUND_TOL)


@pytest.mark.parametrize("case", ALPHA_SPENDING, ids=ids)
def test_alpha_spent_per_look_is_the_spending_increment(case):
    (name, gamma, t), _ = case
    bounds = efficacy_bounds(t, ALPHA, name, gamma)
    crossing = crossing_probabilities(bounds, None, t, 0.0)
    increments = np.diff(cumulative_spending(t, ALPHA, name, gamma), prepend=0.0)
    np.testing.assert_allclose(crossing.efficacy, increments, rtol=1e-9, atol=1e-14)
    assert crossing.power == pytest.approx(ALPHA, abs=1e-12)
    assert sum(crossing.efficacy) + sum(crossing.futility) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("case", ALPHA_SPENT, ids=ids)
def test_spending_functions_match_rpact_alpha_spent(case):
    (name, gamma, t), expected = case
    np.testing.assert_allclose(spending(name, np.array(t), ALPHA, gamma), expected, rtol=0, atol=2e-8)


def test_spending_formulas():
    t = np.linspace(0, 1, 11)
    z = special.ndtri(1 - ALPHA / 2)
    with np.errstate(divide="ignore"):
        of = 2 - 2 * special.ndtr(z / np.sqrt(t))          # as written: cancels in the tail
        of_tail = 2 * special.ndtr(-z / np.sqrt(t))        # the same, without the cancellation
    np.testing.assert_allclose(spending("obrien_fleming", t, ALPHA), of, rtol=0, atol=1e-15)
    np.testing.assert_allclose(spending("obrien_fleming", t, ALPHA), of_tail, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(spending("pocock", t, ALPHA), ALPHA * np.log(1 + (math.e - 1) * t), rtol=1e-14)
    for gamma in (-4.0, -2.0, 1.0, 3.0):
        hsd = ALPHA * (1 - np.exp(-gamma * t)) / (1 - np.exp(-gamma))
        np.testing.assert_allclose(spending("hwang_shih_decani", t, ALPHA, gamma), hsd, rtol=1e-14)
    np.testing.assert_allclose(spending("hwang_shih_decani", t, ALPHA, 0.0), ALPHA * t, rtol=1e-15)
    # the gamma -> 0 limit is continuous
    assert spending("hwang_shih_decani", 0.3, ALPHA, 1e-9) == pytest.approx(ALPHA * 0.3, rel=1e-8)
    for name, gamma in (("obrien_fleming", None), ("pocock", None), ("hwang_shih_decani", -4.0)):
        assert spending(name, 0.0, ALPHA, gamma) == 0.0
        assert spending(name, 1.0, ALPHA, gamma) == pytest.approx(ALPHA, rel=1e-14)
        assert np.all(np.diff(spending(name, t, ALPHA, gamma)) > 0)
    assert isinstance(spending("pocock", 0.5, ALPHA), float)


def test_pocock_constant():
    """A constant boundary at K equally spaced looks, solved with the crossing probabilities,
    is Pocock's (rpact's typeOfDesign "P" and Jennison & Turnbull's Table 2.1)."""
    for k, rpact_value in ((2, POCOCK_K2), (5, POCOCK_K5)):
        t = np.arange(1, k + 1) / k
        c = find_root(lambda c: crossing_probabilities([c] * k, None, t, 0.0).power - ALPHA, 1.5, 3.5)
        assert c == pytest.approx(rpact_value, abs=BOUND_TOL)
        assert c == pytest.approx(JT_POCOCK[k], abs=5e-4)


def test_single_look_is_the_fixed_design():
    z = special.ndtri(1 - ALPHA)
    assert efficacy_bounds([1.0], ALPHA, "obrien_fleming")[0] == pytest.approx(z, abs=1e-11)
    design = beta_spending_design([1.0], ALPHA, 0.2, "pocock")
    assert design.drift == pytest.approx(special.ndtri(1 - ALPHA) + special.ndtri(0.8), abs=1e-10)
    assert design.futility == design.efficacy


def test_two_looks_against_direct_quadrature():
    """K = 2 needs one integral: P(Z1 < c1, Z2 < c2) = int_{-inf}^{c1} phi(u) Phi((c2 sqrt t2 -
    u sqrt t1) / sqrt(t2 - t1)) du, done here by adaptive quadrature."""
    t1, t2, drift = 0.4, 1.0, 1.7
    c = efficacy_bounds([t1, t2], ALPHA, "hwang_shih_decani", -3.0)

    def continuing_below(u):
        z1 = np.exp(-0.5 * (u - drift * math.sqrt(t1)) ** 2) / math.sqrt(2 * math.pi)
        gap = (c[1] * math.sqrt(t2) - u * math.sqrt(t1) - drift * (t2 - t1)) / math.sqrt(t2 - t1)
        return z1 * special.ndtr(gap)

    miss = integrate(continuing_below, -40.0, c[0], epsabs=1e-15, epsrel=1e-14)
    power = crossing_probabilities(c, None, [t1, t2], drift).power
    assert power == pytest.approx(1 - miss, abs=1e-13)


def test_integration_has_converged(monkeypatch):
    """Finer panels, more nodes and a wider span change nothing beyond rounding."""
    cases = [((0.2, 0.4, 0.6, 0.8, 1.0), "pocock", None),
             ((0.1, 0.12, 0.5, 0.51, 1.0), "obrien_fleming", None)]
    coarse = [efficacy_bounds(t, ALPHA, name, gamma) for t, name, gamma in cases]
    design = DESIGNS["OF+bsOF binding"]
    coarse_design = beta_spending_design(design["fractions"], ALPHA, 0.2, "obrien_fleming", binding=True)
    monkeypatch.setattr(sequential, "_PANEL", 0.5)
    monkeypatch.setattr(sequential, "_NODES", 24)
    monkeypatch.setattr(sequential, "_SPAN", 11.0)
    for (t, name, gamma), before in zip(cases, coarse):
        np.testing.assert_allclose(efficacy_bounds(t, ALPHA, name, gamma), before, rtol=0, atol=1e-11)
    fine_design = beta_spending_design(design["fractions"], ALPHA, 0.2, "obrien_fleming", binding=True)
    np.testing.assert_allclose(fine_design.futility, coarse_design.futility, rtol=0, atol=1e-10)
    assert fine_design.drift == pytest.approx(coarse_design.drift, abs=1e-10)


# ----------------------------------------------------------------------------- futility


@pytest.mark.parametrize("name", BETA_SPENDING)
def test_beta_spending_design_matches_rpact(name):
    ref = DESIGNS[name]
    (a_name, a_gamma), (b_name, b_gamma) = ref["spending"], ref["beta_spending"]
    design = beta_spending_design(ref["fractions"], ALPHA, ref["beta"], a_name, a_gamma, binding=ref["binding"],
                                  beta_spending=b_name, beta_gamma=b_gamma)
    np.testing.assert_allclose(design.efficacy, ref["critical"], rtol=0, atol=BOUND_TOL)
    np.testing.assert_allclose(design.futility[:-1], ref["futility"], rtol=0, atol=BOUND_TOL)
    assert design.futility[-1] == design.efficacy[-1]
    assert design.drift == pytest.approx(math.sqrt(ref["shift"]), abs=BOUND_TOL)
    # at the design's drift: beta spent and power, cumulative, as rpact's
    crossing = crossing_probabilities(design.efficacy, design.futility, design.fractions, design.drift)
    np.testing.assert_allclose(np.cumsum(crossing.futility), ref["beta_spent"], rtol=0, atol=PROB_TOL)
    np.testing.assert_allclose(np.cumsum(crossing.efficacy), ref["power"], rtol=0, atol=PROB_TOL)
    # the futility bounds spend beta exactly, and the efficacy bounds alpha (under H0, with the
    # futility bounds stopping the trial when binding, without them when not)
    beta_steps = np.diff(cumulative_spending(design.fractions, ref["beta"], b_name, b_gamma), prepend=0.0)
    np.testing.assert_allclose(crossing.futility, beta_steps, rtol=1e-9, atol=1e-14)
    alpha_steps = np.diff(cumulative_spending(design.fractions, ALPHA, a_name, a_gamma), prepend=0.0)
    null = crossing_probabilities(design.efficacy, design.futility if ref["binding"] else None,
                                  design.fractions, 0.0)
    np.testing.assert_allclose(null.efficacy, alpha_steps, rtol=1e-9, atol=1e-14)
    # given the design's drift and efficacy bounds, beta_spending_futility gives the same bounds,
    # and given rpact's, rpact's
    again = beta_spending_futility(design.fractions, design.efficacy, ref["beta"], design.drift, b_name, b_gamma)
    np.testing.assert_allclose(again, design.futility, rtol=0, atol=1e-10)
    theirs = beta_spending_futility(ref["fractions"], ref["critical"], ref["beta"], math.sqrt(ref["shift"]),
                                    b_name, b_gamma)
    np.testing.assert_allclose(theirs[:-1], ref["futility"], rtol=0, atol=BOUND_TOL)
    assert theirs[-1] == ref["critical"][-1]


@pytest.mark.parametrize("name", list(DESIGNS))
def test_design_characteristics_match_rpact(name):
    """rpact's own bounds in, its getDesignCharacteristics out: the drift giving power 1 - beta,
    the stage-wise rejection and futility probabilities and the expected information."""
    ref = DESIGNS[name]
    t, c, a = ref["fractions"], ref["critical"], ref["futility"]
    drift = drift_for_power(c, a, t, 1 - ref["beta"])
    assert drift == pytest.approx(math.sqrt(ref["shift"]), abs=BOUND_TOL)
    h1 = crossing_probabilities(c, a, t, math.sqrt(ref["shift"]))
    np.testing.assert_allclose(h1.efficacy, ref["rejection"], rtol=0, atol=PROB_TOL)
    np.testing.assert_allclose(h1.futility[:-1], ref["futility_probabilities"], rtol=0, atol=PROB_TOL)
    assert h1.power == pytest.approx(1 - ref["beta"], abs=PROB_TOL)
    to_fraction = ref["n_fixed"] / ref["shift"]
    assert h1.expected_fraction == pytest.approx(ref["asn1"] * to_fraction, abs=PROB_TOL)
    h0 = crossing_probabilities(c, a, t, 0.0)
    assert h0.expected_fraction == pytest.approx(ref["asn0"] * to_fraction, abs=PROB_TOL)
    if "binding" in ref and "beta_spending" not in ref:
        # user-given futility bounds: rpact's criticalValues with and without binding them
        bounds = efficacy_bounds(t, ALPHA, *ref["spending"], futility=a, binding=ref["binding"])
        np.testing.assert_allclose(bounds, c, rtol=0, atol=BOUND_TOL)
        null = crossing_probabilities(bounds, a if ref["binding"] else None, t, 0.0)
        assert null.power == pytest.approx(ALPHA, abs=1e-12)


def test_beta_spending_defaults_to_the_alpha_spending_function():
    t = (0.3, 0.7, 1.0)
    explicit = beta_spending_design(t, ALPHA, 0.2, "hwang_shih_decani", -4.0,
                                    beta_spending="hwang_shih_decani", beta_gamma=-4.0)
    implicit = beta_spending_design(t, ALPHA, 0.2, "hwang_shih_decani", -4.0)
    assert implicit == explicit
    efficacy, futility = implicit               # a design unpacks as its two bounds
    np.testing.assert_array_equal(efficacy, explicit.efficacy)
    np.testing.assert_array_equal(futility, explicit.futility)


def test_binding_lowers_later_efficacy_bounds():
    t = (0.3, 0.6, 1.0)
    free = efficacy_bounds(t, ALPHA, "obrien_fleming", futility=[0.0, 0.8])
    bound = efficacy_bounds(t, ALPHA, "obrien_fleming", futility=[0.0, 0.8], binding=True)
    assert free[0] == bound[0] and np.all(bound[1:] < free[1:])
    np.testing.assert_array_equal(free, efficacy_bounds(t, ALPHA, "obrien_fleming"))
    # non-binding bounds keep the type I error below alpha when the trial does stop for futility
    assert crossing_probabilities(free, [0.0, 0.8], t, 0.0).power < ALPHA


# ----------------------------------------------------------------------------- stopping short


def test_final_is_last_spends_everything_at_the_last_look():
    planned = efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock")
    so_far = efficacy_bounds((0.3, 0.6), ALPHA, "pocock", final_is_last=False)
    stopped = efficacy_bounds((0.3, 0.6), ALPHA, "pocock")
    # the looks so far of a trial that goes on have the planned bounds: spending depends on t only
    np.testing.assert_allclose(so_far, planned[:2], rtol=0, atol=1e-11)
    assert stopped[0] == so_far[0] and stopped[1] < so_far[1]
    spent_so_far = crossing_probabilities(so_far, None, (0.3, 0.6), 0.0).power
    assert spent_so_far == pytest.approx(spending("pocock", 0.6, ALPHA), abs=1e-12)
    assert crossing_probabilities(stopped, None, (0.3, 0.6), 0.0).power == pytest.approx(ALPHA, abs=1e-12)
    # with t_K = 1 the flag changes nothing
    np.testing.assert_array_equal(efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock", final_is_last=False), planned)
    np.testing.assert_array_equal(cumulative_spending((0.3, 0.6), ALPHA, "pocock")[-1], ALPHA)


def test_futility_at_the_looks_so_far():
    t = (1 / 3, 2 / 3, 1.0)
    c = efficacy_bounds(t, ALPHA, "obrien_fleming")
    full = beta_spending_futility(t, c, 0.2, 2.9, "obrien_fleming")
    so_far = beta_spending_futility(t[:2], c[:2], 0.2, 2.9, "obrien_fleming", final_is_last=False)
    np.testing.assert_allclose(so_far, full[:2], rtol=0, atol=1e-11)
    assert full[-1] == c[-1]


# ----------------------------------------------------------------------------- Monte Carlo


def first_crossings(rng, t, efficacy, futility, drift, paths):
    """Simulated Brownian paths: per look the share first crossing each bound."""
    steps = np.diff(np.concatenate([[0.0], t]))
    b = np.cumsum(rng.normal(drift * steps, np.sqrt(steps), size=(paths, t.size)), axis=1)
    z = b / np.sqrt(t)
    running = np.ones(paths, dtype=bool)
    up, down = [], []
    for k in range(t.size):
        hit_up = running & (z[:, k] >= efficacy[k])
        hit_down = running & ~hit_up & (z[:, k] < futility[k])
        up.append(hit_up.mean())
        down.append(hit_down.mean())
        running &= ~(hit_up | hit_down)
    return np.array(up), np.array(down)


@pytest.mark.parametrize("drift_kind", ["null", "design"])
def test_monte_carlo_first_crossings(drift_kind):
    design = beta_spending_design((0.25, 0.5, 0.8, 1.0), ALPHA, 0.1, "hwang_shih_decani", -2.0, beta_spending="pocock")
    drift = 0.0 if drift_kind == "null" else design.drift
    t = np.array(design.fractions)
    paths = 400_000
    up, down = first_crossings(np.random.default_rng(20250101), t, design.efficacy, design.futility, drift, paths)
    crossing = crossing_probabilities(design.efficacy, design.futility, design.fractions, drift)
    for simulated, computed in ((up, crossing.efficacy), (down, crossing.futility)):
        computed = np.array(computed)
        se = np.sqrt(computed * (1 - computed) / paths)
        assert np.all(np.abs(simulated - computed) <= 4.5 * se + 1e-12), (simulated, computed, se)


# ----------------------------------------------------------------------------- conditional power


def test_conditional_power():
    c, t = 1.969, 0.5
    z = np.array([-1.0, 0.0, 1.0, 2.5])
    drift = np.array([[0.0], [2.8]])
    cp = conditional_power(z, t, c, drift)
    assert cp.shape == (2, 4)
    expected = 1 - special.ndtr((c - z * math.sqrt(t) - drift * (1 - t)) / math.sqrt(1 - t))
    np.testing.assert_allclose(cp, expected, rtol=1e-12, atol=1e-16)
    assert np.all(np.diff(cp, axis=1) > 0) and np.all(cp[1] > cp[0])
    assert isinstance(conditional_power(1.0, 0.5, c, 2.0), float)
    # at t = 0 it is a single look's power
    assert conditional_power(0.0, 0.0, c, 2.8) == pytest.approx(special.ndtr(2.8 - c), rel=1e-14)
    # averaged over Z_t it is the power of the final look alone (no stop at t)
    mean = 2.8 * math.sqrt(t)
    average = integrate(lambda u: np.exp(-0.5 * (u - mean) ** 2) / math.sqrt(2 * math.pi)
                        * conditional_power(u, t, c, 2.8), mean - 12, mean + 12)
    no_stop = crossing_probabilities([math.inf, c], None, [t, 1.0], 2.8)
    assert no_stop.efficacy[0] == 0.0
    assert average == pytest.approx(no_stop.power, abs=1e-12)
    assert no_stop.power == pytest.approx(special.ndtr(2.8 - c), abs=1e-12)


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("fractions, message", [
    ((0.5, 0.5, 1.0), "strictly increasing"),
    ((0.7, 0.4, 1.0), "strictly increasing"),
    ((0.0, 0.5, 1.0), r"lie in \(0, 1\]"),
    ((0.5, 1.2), r"lie in \(0, 1\]"),
    ((-0.1, 1.0), r"lie in \(0, 1\]"),
    ((0.5, float("nan")), r"lie in \(0, 1\]"),
    ((), "non-empty"),
])
def test_invalid_fractions(fractions, message):
    with pytest.raises(ValueError, match=message):
        efficacy_bounds(fractions, ALPHA, "pocock")
    with pytest.raises(ValueError, match=message):
        crossing_probabilities([2.0] * max(len(fractions), 1), None, fractions, 0.0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, 0.7, float("nan")])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 0.5\)"):
        efficacy_bounds((0.5, 1.0), alpha, "obrien_fleming")
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 0.5\)"):
        beta_spending_design((0.5, 1.0), alpha, 0.2, "obrien_fleming")


def test_invalid_spending_and_other_inputs():
    with pytest.raises(ValueError, match="unknown spending function 'kim_demets'; choose one of obrien_fleming"):
        efficacy_bounds((0.5, 1.0), ALPHA, "kim_demets")
    with pytest.raises(ValueError, match="unknown spending function"):
        spending("asOF", 0.5, ALPHA)
    with pytest.raises(ValueError, match="needs a finite gamma"):
        efficacy_bounds((0.5, 1.0), ALPHA, "hwang_shih_decani")
    with pytest.raises(ValueError, match="gamma applies to 'hwang_shih_decani' only"):
        efficacy_bounds((0.5, 1.0), ALPHA, "pocock", gamma=-4)
    with pytest.raises(ValueError, match=r"gamma must lie in \[-40, 40\]"):
        efficacy_bounds((0.5, 1.0), ALPHA, "hwang_shih_decani", gamma=1000.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        spending("pocock", 1.5, ALPHA)
    with pytest.raises(ValueError, match="beta must lie"):
        beta_spending_design((0.5, 1.0), ALPHA, 0.99, "pocock")
    with pytest.raises(ValueError, match="one bound per look"):
        crossing_probabilities([2.0, 2.0], None, (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="futility needs a bound"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="must equal its efficacy bound"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0, 0.5, 1.0], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="exceed efficacy bounds"):
        crossing_probabilities([3.0, 2.5, 2.0], [0.0, 2.6], (0.3, 0.6, 1.0), 0.0)
    with pytest.raises(ValueError, match="not below the efficacy bound"):
        efficacy_bounds((0.3, 0.6, 1.0), ALPHA, "pocock", futility=[0.0, 3.0], binding=True)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\)"):
        conditional_power(1.0, 1.0, 1.96, 2.0)
    with pytest.raises(ValueError, match="power must lie between"):
        drift_for_power([2.0, 2.0], None, (0.5, 1.0), 0.01)


def test_imports_fast():
    """Only numpy and scipy.special: the slow scipy subpackages stay unloaded."""
    code = ("import sys, simulate.analysis.sequential; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('scipy.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = set(eval(out.stdout))
    assert not loaded & {"stats", "optimize", "integrate", "interpolate", "linalg", "sparse"}, loaded


# ------------------------------------------------------------------ gsDesign's published values
# gsDesign is not installable here (no Debian package, CRAN unreachable); these are values its own
# test suite publishes (github.com/keaven/gsDesign, tests/testthat/).


def test_hwang_shih_decani_bounds_match_gsdesign_default_design():
    """gsDesign(nFixSurv = 0, k = 5, test.type = 1, n.fix = 1): the default one-sided design,
    sfHSD with gamma = -4, alpha = 0.025, equal spacing; gsBoundSummary prints Z to 4 decimals
    (tests/testthat/_snaps/independent-test-gsBoundSummary.md)."""
    published = (3.2527, 2.9860, 2.6917, 2.3737, 2.0253)
    ours = sequential.efficacy_bounds([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "hwang_shih_decani", -4.0)
    np.testing.assert_allclose(ours, published, atol=0.5e-4 + 1e-9)


@pytest.mark.parametrize("k, published", [(2, 0.042), (4, 0.063), (10, 0.097), (20, 0.124)])
def test_repeated_testing_inflation_matches_gsdesign(k, published):
    """gsProbability(k, theta = 0, n.I = 1:k, a = qnorm(.025), b = qnorm(.975)): the chance of
    crossing 1.96 at some look when testing k times at the unadjusted level, rounded to 3
    decimals in gsDesign's tests (test-outputs.R, "test.Deming.gsProb")."""
    fractions = [i / k for i in range(1, k + 1)]
    z = 1.959963984540054
    probs = sequential.crossing_probabilities([z] * k, [-z] * (k - 1), fractions, 0.0)  # the last lower bound stops nothing more
    assert round(float(np.sum(probs.efficacy)), 3) == published
