"""PinSage-style GraphSAGE over the pin-board graph (issue 4).

Modules, one concern each: ``config`` (typed config), ``adjacency`` (CSR graph, edge split),
``sampler`` (random-walk importance neighbourhoods), ``blocks`` (minibatch computation graphs),
``model`` (heterogeneous PinSage conv), ``losses`` / ``objective`` / ``negatives`` (max-margin,
sampled softmax, curriculum hard negatives), ``train`` (loop, checkpoints), ``inference``
(layer-by-layer whole-graph embedding, inductive embedding of new pins), ``store`` (model dir).

Import what you need from the modules, e.g.
``from graphrec.sage.inference import InductiveEmbedder``.
"""
