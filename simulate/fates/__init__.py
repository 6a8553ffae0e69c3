"""Everything random for a block of trials, drawn once (:mod:`simulate.fates.draw`): referrals, the pool of candidates, allocation."""
