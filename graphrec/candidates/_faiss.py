"""Import faiss with OpenMP worker threads that sleep, rather than spin, while they wait.

faiss-cpu ships its own libgomp, which reads ``OMP_WAIT_POLICY`` once, when faiss is imported.
With the default (active) policy its idle threads busy-wait; on a machine whose cores are busy
with other work (2 shared cores here) that made 2-thread flat search 4x slower than 1 thread
(200k x 64, top-100: 271-295 vs 1,248-1,288 queries/s; 1,119-1,203 with 2 passive threads).
``PASSIVE`` is set only
for faiss's import and then removed again, so torch's own libgomp is unaffected; a value the
user set is respected. Importing faiss before this module skips the setting.
"""

from __future__ import annotations

import logging
import os

# faiss's loader logs its CPU-feature probing at INFO on every import; keep the CLI output clean.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

_KEY = "OMP_WAIT_POLICY"
_user_value = os.environ.get(_KEY)
if _user_value is None:
    os.environ[_KEY] = "PASSIVE"
try:
    import faiss  # noqa: E402
finally:
    if _user_value is None:
        os.environ.pop(_KEY, None)

__all__ = ["faiss"]
