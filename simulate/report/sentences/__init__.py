"""Results in words, each sentence written once: the CLI's summaries (:mod:`.console`), the run's
plain-language summary (:mod:`.summary`), one trial's story (:mod:`.trial`) and the clauses
they, the verdict card and the teaching lab share (:mod:`.common`)."""
