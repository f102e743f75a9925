"""Evaluation stage: warm/cold protocol, baselines, offline A/B simulation, report.

Modules: ``config`` (typed configs), ``metrics`` (vectorised ranking metrics), ``protocol``
(tasks, masks, slices, batched scoring), ``recommenders`` (the ``Recommender`` contract and
every model), ``stats`` / ``interleave`` / ``ab`` (the A/B simulator), ``report`` / ``plots``,
``run`` / ``ab_run`` (what ``graphrec evaluate`` and ``graphrec ab-sim`` call).
See docs/evaluation.md.
"""
