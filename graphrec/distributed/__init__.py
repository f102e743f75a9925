"""Scale-out: Ray for the embarrassingly parallel jobs (``ray_jobs``), devices (``device``)."""
