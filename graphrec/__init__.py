"""graphrec: PinCLIP + PinSage style recommendations for catalogues and curated collections."""

__version__ = "0.1.0"


def load_run(run_dir):  # noqa: ANN001, ANN201 - typed in graphrec.api.load_run
    """Load a ``graphrec run`` directory for recommendations (see :func:`graphrec.api.load_run`)."""
    from graphrec.api import load_run as _load_run

    return _load_run(run_dir)
