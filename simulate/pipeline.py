"""The main job's public names, where callers have long imported them from: the orchestration
(:mod:`simulate.run.main_job`), the pieces (:mod:`simulate.run.compute`), the piece cache
(:mod:`simulate.run.pieces`), the tables (:mod:`simulate.report.tables`) and the summary
(:mod:`simulate.report.sentences.summary`)."""

from simulate.report.sentences.common import NOTABLE_EXAGGERATION  # noqa: F401
from simulate.report.sentences.summary import folder_sentence, interim_sentence, plain_summary  # noqa: F401
from simulate.report.tables import (LOOK_COLUMNS, REMISSION_COLUMNS, comparisons_table, consort_table,  # noqa: F401
                                    looks_table, remission_table, write_tables)
from simulate.run.compute import (ACCRUAL_TRIALS, PATH_TRIALS, SCREENED_REFERRALS, STOPPED_FOR, TARGETS,  # noqa: F401
                                  compute_accrual, compute_example_trial, compute_interim, compute_power,
                                  compute_remission_model, compute_samplesize, compute_screening, compute_sweep,
                                  fixed_design, interim_paths, kaplan_meier_remission, read_source, trial_record)
from simulate.run.main_job import has_looks, plan_run, run_all, run_files, run_settings  # noqa: F401
from simulate.run.pieces import PIECES, code_hash  # noqa: F401
