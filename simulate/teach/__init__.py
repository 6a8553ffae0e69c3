"""The teaching lab: :mod:`simulate.teach.lab` computes (no browser needed), :mod:`simulate.teach.figures`
draws what only the lab shows, :mod:`simulate.teach.app` is the Shiny app (the ``teach`` extra)."""
