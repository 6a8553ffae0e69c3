"""Reference values of group-sequential designs: rpact's bounds, spending and design
characteristics, Jennison & Turnbull's Pocock constants and gsDesign's published values, as plain
data in the form ``reference_values.py`` describes (which re-exports them: import from there).

They live apart only to keep each module short.
"""

RPACT = "rpact 3.3.4 on R 4.2.2"
RPACT_NOTE = ('Printed by R 4.2.2 with rpact 3.3.4, `f <- function(x) formatC(x, digits = 12, format = "f")`. '
              "rpact integrates with a 91-point Newton-Cotes rule and solves its bounds to a tolerance of 1e-8, "
              "so its numbers are good to a few 1e-8: bounds are compared at 1e-7, probabilities at 1e-8.")
BOUND = {"abs": 1e-7, "rel": 0.0, "combine": "sum", "reason": "rpact's bounds carry errors of up to ~6e-8"}
PROBABILITY = {"abs": 1e-8, "rel": 0.0, "combine": "sum",
               "reason": "rpact's probabilities, from bounds solved to 1e-8"}
ALPHA = 0.025
"""One-sided alpha of every design below."""

RPACT_EFFICACY_BOUNDS = {
    "id": "rpact-efficacy-bounds", "title": "Efficacy bounds of alpha-spending designs (rpact)", "source": RPACT,
    "tests": ("tests/test_sequential.py::test_efficacy_bounds_match_rpact",),
    "note": RPACT_NOTE + " trialsim: `simulate.analysis.sequential.efficacy_bounds(fractions, 0.025, spending, gamma)`.",
    "tolerance": {"criticalValues": BOUND},
    "cases": [
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.5, 1))$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (0.5, 1.0)},
         "reference": {"criticalValues": (2.962588042728, 1.968595646322)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3) / 3)$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"criticalValues": (3.710302873263, 2.511427484453, 1.993047483265)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3, 4) / 4)$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (0.25, 0.5, 0.75, 1.0)},
         "reference": {"criticalValues": (4.332633646050, 2.963131599128, 2.359044276178, 2.014090143144)}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"criticalValues": (4.876884948791, 3.357011921704, 2.680280067027, 2.289816774428, 2.031032063067)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.3, 0.7, 1))$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"criticalValues": (3.928572542627, 2.438742376864, 2.000008575618)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asOF", informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"criticalValues": (4.332633646050, 2.963131599128, 2.266213141382, 2.027800224721)}},
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.5, 1))$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.5, 1.0)},
         "reference": {"criticalValues": (2.156999218345, 2.200976975262)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3) / 3)$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"criticalValues": (2.279428238917, 2.294911138713, 2.295939587057)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3, 4) / 4)$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.25, 0.5, 0.75, 1.0)},
         "reference": {"criticalValues": (2.368327703524, 2.367524288595, 2.358168311417, 2.350035972893)}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"criticalValues": (2.437976688050, 2.426813863218, 2.410194136202, 2.396649293602, 2.385999701917)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.3, 0.7, 1))$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"criticalValues": (2.311835303806, 2.258346356452, 2.306182883680)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"criticalValues": (2.368327703524, 2.367524288595, 2.327061615884, 2.369728945196)}},
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.5, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.5, 1.0)},
         "reference": {"criticalValues": (2.749965931835, 1.981131471694)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3) / 3)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"criticalValues": (3.010739485386, 2.546530552208, 1.999226354063)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3, 4) / 4)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.25, 0.5, 0.75, 1.0)},
         "reference": {"criticalValues": (3.155373032660, 2.818347148597, 2.439131803811, 2.013647325337)}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"criticalValues": (3.252668488441, 2.986045949161, 2.691657446325, 2.373666994274, 2.025321416557)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.3, 0.7, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"criticalValues": (3.066699549322, 2.483666397631, 2.002767421305)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-4, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"criticalValues": (3.155373032660, 2.818347148597, 2.347160540521, 2.022028692067)}},
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.5, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.5, 1.0)},
         "reference": {"criticalValues": (2.471704250634, 2.024655468762)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3) / 3)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"criticalValues": (2.677523953433, 2.385417930782, 2.063740424812)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3, 4) / 4)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.25, 0.5, 0.75, 1.0)},
         "reference": {"criticalValues": (2.802118880383, 2.580104075372, 2.340791709721, 2.090340636671)}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"criticalValues": (2.890282140113, 2.708488248289, 2.514076344669, 2.314999081194, 2.109954021871)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.3, 0.7, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"criticalValues": (2.724812317292, 2.334634579718, 2.069720484316)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"criticalValues": (2.802118880383, 2.580104075372, 2.274608440697, 2.103053651750)}},
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.5, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.5, 1.0)},
         "reference": {"criticalValues": (2.155496956164, 2.202696599066)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3) / 3)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"criticalValues": (2.283141355888, 2.284441255033, 2.301255367696)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3, 4) / 4)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.25, 0.5, 0.75, 1.0)},
         "reference": {"criticalValues": (2.376102527169, 2.357132278383, 2.349901191890, 2.357468537986)}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(1, 2, 3, 4, 5) / 5)$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"criticalValues": (2.448677249738, 2.418984703720, 2.398381702602, 2.391234062612, 2.394773401320)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.3, 0.7, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"criticalValues": (2.317050575564, 2.247877560556, 2.311988852918)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.25, 0.5, 0.8, 1))$criticalValues',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"criticalValues": (2.376102527169, 2.357132278383, 2.320228688419, 2.378025151789)}},
    ],
}

RPACT_ALPHA_SPENT = {
    "id": "rpact-alpha-spent", "title": "Cumulative alpha spent (rpact)", "source": RPACT,
    "tests": ("tests/test_sequential.py::test_spending_functions_match_rpact_alpha_spent",),
    "note": RPACT_NOTE + " rpact integrates the alpha spent at its bounds, hence 0.02499999 at the end. "
            "trialsim: `simulate.analysis.sequential.spending(spending, fractions, 0.025, gamma)`.",
    "tolerance": {"alphaSpent": {"abs": 2e-8, "rel": 0.0, "combine": "sum",
                                 "reason": "rpact integrates at its bounds: 0.02499999 for 0.025"}},
    "cases": [
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asOF")$alphaSpent',
         "inputs": {"spending": "obrien_fleming", "gamma": None, "fractions": (1 / 3, 2 / 3, 1.0)},
         "reference": {"alphaSpent": (0.000103505718, 0.006048389077, 0.024999990000)}},
        {"call": 'getDesignGroupSequential(kMax=4, alpha=0.025, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1))$alphaSpent',
         "inputs": {"spending": "pocock", "gamma": None, "fractions": (0.25, 0.5, 0.8, 1.0)},
         "reference": {"alphaSpent": (0.008934350488, 0.015502862820, 0.021620993066, 0.025000000000)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=-2, informationRates=c(0.3, 0.7, 1))$alphaSpent',
         "inputs": {"spending": "hwang_shih_decani", "gamma": -2.0, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"alphaSpent": (0.003216902417, 0.011954817283, 0.025000000000)}},
        {"call": 'getDesignGroupSequential(kMax=3, alpha=0.025, sided=1, typeOfDesign="asHSD", gammaA=1, informationRates=c(0.3, 0.7, 1))$alphaSpent',
         "inputs": {"spending": "hwang_shih_decani", "gamma": 1.0, "fractions": (0.3, 0.7, 1.0)},
         "reference": {"alphaSpent": (0.010250488443, 0.019909758128, 0.024999990000)}},
    ],
}

RPACT_POCOCK = {
    "id": "rpact-pocock-constant", "title": "Pocock's constant boundary (rpact)", "source": RPACT,
    "tests": ("tests/test_sequential.py::test_pocock_constant",),
    "note": RPACT_NOTE + " One-sided 0.025 (two-sided 0.05), equally spaced looks. trialsim: the constant c whose "
            "crossing probability under H0 (`simulate.analysis.sequential.crossing_probabilities`) is 0.025.",
    "tolerance": {"criticalValue": BOUND},
    "cases": [
        {"call": 'getDesignGroupSequential(kMax=2, alpha=0.025, sided=1, typeOfDesign="P")$criticalValues',
         "inputs": {"looks": 2}, "reference": {"criticalValue": 2.178272094823}},
        {"call": 'getDesignGroupSequential(kMax=5, alpha=0.025, sided=1, typeOfDesign="P")$criticalValues',
         "inputs": {"looks": 5}, "reference": {"criticalValue": 2.413180287054}},
    ],
}

JENNISON_TURNBULL_POCOCK = {
    "id": "jennison-turnbull-pocock", "title": "Pocock's constant boundary (Jennison & Turnbull)",
    "source": "Jennison & Turnbull (2000), Group Sequential Methods with Applications to Clinical Trials, Table 2.1",
    "tests": ("tests/test_sequential.py::test_pocock_constant",),
    "note": "C_P(K, 0.05), two-sided, printed to 3 decimals. trialsim: as for rpact's Pocock constant.",
    "tolerance": {"criticalValue": {"abs": 5e-4, "rel": 0.0, "combine": "sum",
                                    "reason": "the table prints 3 decimals"}},
    "cases": [
        {"call": "Table 2.1, C_P(2, 0.05)", "inputs": {"looks": 2}, "reference": {"criticalValue": 2.178}},
        {"call": "Table 2.1, C_P(5, 0.05)", "inputs": {"looks": 5}, "reference": {"criticalValue": 2.413}},
    ],
}

RPACT_DESIGNS = {
    "id": "rpact-designs", "title": "Designs with futility bounds and their characteristics (rpact)", "source": RPACT,
    "tests": ("tests/test_sequential.py::test_beta_spending_design_matches_rpact",
              "tests/test_sequential.py::test_design_characteristics_match_rpact"),
    "note": RPACT_NOTE + ' Of `getDesignCharacteristics(d)`: `shift` is drift^2 (drift = theta sqrt(I_max) at power '
            '1 - beta), `nFixed` = (z_{1-alpha} + z_{1-beta})^2, `ASN1`/`ASN0` the expected information over nFixed '
            "at the drift / at 0, the futility bounds stopping the trial. Beta-spending designs: beta spent and power "
            "cumulative. fractions (1/3, 2/3, 1) are rpact's default equal spacing. trialsim: `beta_spending_design` "
            "builds the beta-spending designs; `drift_for_power` and `crossing_probabilities`, given rpact's bounds, "
            "give the characteristics; `efficacy_bounds` binds (or not) user-given futility bounds.",
    "tolerance": {"critical": BOUND, "futility": BOUND, "drift": BOUND, "beta_spent": PROBABILITY,
                  "power": PROBABILITY, "rejection": PROBABILITY, "futility_probabilities": PROBABILITY,
                  "expected_information": PROBABILITY},
    "cases": [
        {"label": "OF+bsOF nonbinding",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsOF", bindingFutility=FALSE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
             beta_spending=("obrien_fleming", None), binding=False),
         "reference": dict(
             critical=(3.710302873263, 2.511427484453, 1.993047483265), futility=(-0.236144609880, 1.170372031163),
             beta_spent=(0.026438294765, 0.116514318956, 0.199999998822),
             power=(0.022188088065, 0.457290748915, 0.799999999427), shift=8.667784932090, n_fixed=7.848879734349,
             rejection=(0.022188088130, 0.435102661479, 0.342709250391),
             futility_probabilities=(0.026438294689, 0.090076023930), asn1=0.875209946775, asn0=0.627409515077)},
        {"label": "OF+bsOF binding",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsOF", bindingFutility=TRUE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
             beta_spending=("obrien_fleming", None), binding=True),
         "reference": dict(
             critical=(3.710302873263, 2.511108435690, 1.930915720761), futility=(-0.270005563803, 1.122484607156),
             beta_spent=(0.026438294942, 0.116514320209, 0.200000000075),
             power=(0.020457960985, 0.438519380760, 0.799999998327), shift=8.325887012615, n_fixed=7.848879734349,
             rejection=(0.020457961164, 0.418061421613, 0.361480617224),
             futility_probabilities=(0.026438294720, 0.090076024504), asn1=0.847936728754, asn0=0.610695336626)},
        {"label": "OF+bsP nonbinding",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", typeBetaSpending="bsP", bindingFutility=FALSE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None),
             beta_spending=("pocock", None), binding=False),
         "reference": dict(
             critical=(3.710302873263, 2.511427484453, 1.993047483265), futility=(0.465943607990, 1.318005551118),
             beta_spent=(0.090566485053, 0.152676503772, 0.200000000342),
             power=(0.028254822010, 0.511212834336, 0.799999999713), shift=9.754789339872, n_fixed=7.848879734349,
             rejection=(0.028254822051, 0.482958012639, 0.288787165290),
             futility_probabilities=(0.090566484950, 0.062110018630), asn1=0.918568054422, asn0=0.577713275818)},
        {"label": "P+bsP binding unequal",
         "call": 'd <- getDesignGroupSequential(kMax=4, alpha=0.025, beta=0.1, sided=1, typeOfDesign="asP", typeBetaSpending="bsP", informationRates=c(0.25, 0.5, 0.8, 1), bindingFutility=TRUE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(0.25, 0.5, 0.8, 1.0), beta=0.1, spending=("pocock", None), beta_spending=("pocock", None),
             binding=True),
         "reference": dict(
             critical=(2.368327703524, 2.364882551134, 2.289229892194, 2.210432238877),
             futility=(0.069768482067, 0.903936397750, 1.715043378528),
             beta_spent=(0.035737401951, 0.062011450820, 0.086483972342, 0.100000000146),
             power=(0.309908296863, 0.635477044516, 0.852058454526, 0.899999999512), shift=14.020792073366,
             n_fixed=10.507423061441, rejection=(0.309908297457, 0.325568747933, 0.216581409784, 0.047941544827),
             futility_probabilities=(0.035737401819, 0.026274048739, 0.024472521379), asn1=0.689380394582,
             asn0=0.553197313033)},
        {"label": "HSD(-4)+bsHSD(-2) nonbinding unequal",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asHSD", gammaA=-4, typeBetaSpending="bsHSD", gammaB=-2, informationRates=c(0.3, 0.7, 1), bindingFutility=FALSE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(0.3, 0.7, 1.0), beta=0.2, spending=("hwang_shih_decani", -4.0),
             beta_spending=("hwang_shih_decani", -2.0), binding=False),
         "reference": dict(
             critical=(3.066699549322, 2.483666397631, 2.002767421305), futility=(-0.358501962279, 1.053000988904),
             beta_spent=(0.025735219503, 0.095638539671, 0.200000001905),
             power=(0.069748742250, 0.481483719372, 0.799999999723), shift=8.416770030400, n_fixed=7.848879734349,
             rejection=(0.069748742324, 0.411734977386, 0.318516280289),
             futility_probabilities=(0.025735219470, 0.069903320061), asn1=0.845732389236, asn0=0.638547536941)},
        {"label": "OF no futility",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF"); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None), futility=None),
         "reference": dict(
             critical=(3.710302873263, 2.511427484453, 1.993047483265), shift=7.949304680229, n_fixed=7.848879734349,
             rejection=(0.018648776258, 0.398800168185, 0.382551055556), futility_probabilities=(0.0, 0.0),
             asn1=0.865568975227, asn0=1.010717942630)},
        {"label": "P no futility unequal",
         "call": 'd <- getDesignGroupSequential(kMax=4, alpha=0.025, beta=0.1, sided=1, typeOfDesign="asP", informationRates=c(0.25, 0.5, 0.8, 1)); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(0.25, 0.5, 0.8, 1.0), beta=0.1, spending=("pocock", None), futility=None),
         "reference": dict(
             critical=(2.368327703524, 2.367524288595, 2.327061615884, 2.369728945196), shift=12.401096830677,
             n_fixed=10.507423061441, rejection=(0.271736965349, 0.305236057169, 0.241571438928, 0.081455538581),
             futility_probabilities=(0.0, 0.0, 0.0), asn1=0.702545081071, asn0=1.166993776533)},
        {"label": "OF futility (0, 0.5) binding",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", futilityBounds=c(0, 0.5), bindingFutility=TRUE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None), binding=True,
             futility=(0.0, 0.500000000000)),
         "reference": dict(
             critical=(3.710302873263, 2.510358102620, 1.964951954782), shift=8.203188520710, n_fixed=7.848879734349,
             rejection=(0.019857454575, 0.411617808282, 0.368524737142),
             futility_probabilities=(0.049104307571, 0.017946957031), asn1=0.847439499417, asn0=0.611333819600)},
        {"label": "OF futility (0, 0.5) nonbinding",
         "call": 'd <- getDesignGroupSequential(kMax=3, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF", futilityBounds=c(0, 0.5), bindingFutility=FALSE); dc <- getDesignCharacteristics(d)',
         "inputs": dict(
             fractions=(1 / 3, 2 / 3, 1.0), beta=0.2, spending=("obrien_fleming", None), binding=False,
             futility=(0.0, 0.500000000000)),
         "reference": dict(
             critical=(3.710302873263, 2.511427484453, 1.993047483265), shift=8.338426309706, n_fixed=7.848879734349,
             rejection=(0.020519934536, 0.418089965883, 0.361390099581),
             futility_probabilities=(0.047739718031, 0.017219298882), asn1=0.859873392658, asn0=0.621418670856)},
    ],
}

RPACT_BOUNDARIES_TABLE = {
    "id": "rpact-boundaries-table", "title": "The boundaries table of a run (rpact)", "source": RPACT,
    "tests": ("tests/test_operating.py::test_the_boundaries_table_matches_rpact",),
    "note": "The registered design with one interim look at half the information, O'Brien-Fleming alpha spending "
            "and non-binding beta-spending futility. trialsim: `boundaries.csv` of a run (the rows of "
            "`simulate.report.boundary_table.boundary_rows`).",
    "tolerance": {key: {"abs": tol, "rel": 0.0, "combine": "max", "reason": reason} for key, tol, reason in (
        ("criticalValues", 1e-6, "the table as written to boundaries.csv; the bounds alone are held to 1e-7 above"),
        ("futilityBounds", 1e-6, "the table as written to boundaries.csv; the bounds alone are held to 1e-7 above"),
        ("stageLevels", 1e-7, "a probability, from a bound good to 1e-7"),
        ("alphaSpent", 1e-7, "a probability; rpact's is good to 1e-8, its last 0.02499999 for 0.025"),
        ("betaSpent", 1e-7, "a probability, good to 1e-8"))},
    "cases": [
        {"call": 'd <- getDesignGroupSequential(kMax=2, alpha=0.025, beta=0.2, sided=1, typeOfDesign="asOF",\n'
                 '                              typeBetaSpending="bsOF", informationRates=c(0.5, 1), bindingFutility=FALSE)',
         "inputs": {"scenario": "tests/scenarios/nct04743739_without_events.toml",
                    "overrides": ("interim.information_fractions=[0.5, 1.0]", "interim.futility=beta_spending",
                                  "analysis.test=ztest", "analysis.alternative=greater", "analysis.alpha=0.025")},
         "reference": {"criticalValues": (2.96258804273, 1.96859564632), "futilityBounds": (0.559391495693,),
                       "alphaSpent": (0.00152532275799, 0.02499999000000),
                       "betaSpent": (0.0699263267205, 0.1999999997420),
                       "stageLevels": (0.00152532275799, 0.02449977146303)}},
    ],
}

GSDESIGN = "gsDesign's own test suite (github.com/keaven/gsDesign, tests/testthat/)"
GSDESIGN_NOTE = ("gsDesign is not installable here (no Debian package, CRAN unreachable): these are values its "
                 "own test suite publishes. ")

GSDESIGN_HSD_BOUNDS = {
    "id": "gsdesign-hsd-bounds", "title": "Hwang-Shih-DeCani bounds of gsDesign's default design", "source": GSDESIGN,
    "tests": ("tests/test_sequential.py::test_hwang_shih_decani_bounds_match_gsdesign_default_design",),
    "note": GSDESIGN_NOTE + "The default one-sided design: sfHSD with gamma = -4, alpha = 0.025, equal spacing; "
            "`gsBoundSummary` prints Z to 4 decimals (`tests/testthat/_snaps/independent-test-gsBoundSummary.md`).",
    "tolerance": {"Z": {"abs": 0.5e-4 + 1e-9, "rel": 1e-7, "combine": "sum", "reason": "printed to 4 decimals"}},
    "cases": [
        {"call": "gsBoundSummary(gsDesign(nFixSurv = 0, k = 5, test.type = 1, n.fix = 1))",
         "inputs": {"spending": "hwang_shih_decani", "gamma": -4.0, "fractions": (0.2, 0.4, 0.6, 0.8, 1.0)},
         "reference": {"Z": (3.2527, 2.9860, 2.6917, 2.3737, 2.0253)}},
    ],
}

GSDESIGN_REPEATED_TESTING = {
    "id": "gsdesign-repeated-testing", "title": "Type I error of testing repeatedly at 1.96 (gsDesign)",
    "source": GSDESIGN,
    "tests": ("tests/test_sequential.py::test_repeated_testing_inflation_matches_gsdesign",),
    "note": GSDESIGN_NOTE + "The chance of crossing 1.96 at some look when testing k times at the unadjusted level, "
            'rounded to 3 decimals in gsDesign\'s tests (`test-outputs.R`, "test.Deming.gsProb"). trialsim: the sum '
            "of `crossing_probabilities([1.96] * k, [-1.96] * (k - 1), fractions, 0)`.",
    "tolerance": {"crossing": {"decimals": 3, "reason": "published to 3 decimals"}},
    "cases": [
        {"call": f"gsProbability(k = {k}, theta = 0, n.I = 1:{k}, a = qnorm(.025), b = qnorm(.975))",
         "inputs": {"looks": k}, "reference": {"crossing": published}}
        for k, published in ((2, 0.042), (4, 0.063), (10, 0.097), (20, 0.124))
    ],
}
