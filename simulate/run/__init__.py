"""Running the work: the main job (:mod:`.main_job`), its pieces (:mod:`.compute`) and their
cache (:mod:`.pieces`)."""
