"""Candidate generation: a faiss index over pin embeddings, top-k candidates per pin and board.

Public API (see docs/candidates.md):

* :class:`~graphrec.candidates.config.CandidatesConfig`, :func:`~graphrec.candidates.config.parse_shard`
* :class:`~graphrec.candidates.index.CandidateIndex`: ``build / add / search / save / load``
* :class:`~graphrec.candidates.bundle.IndexBundle`, :func:`~graphrec.candidates.bundle.load_bundle`:
  the saved index with id maps, query vectors and saved-pin exclusions (what ``add-pins`` and
  the MLflow model load)
* :func:`~graphrec.candidates.job.run_candidates`, :func:`~graphrec.candidates.merge.merge_candidates`
* :func:`~graphrec.candidates.pyfunc.log_candidate_model` (imports MLflow; import it from its module)

Submodules are imported on use so that ``import graphrec.candidates`` stays cheap.
"""
