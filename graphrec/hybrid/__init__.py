"""The ``full`` model: one embedding space for warm and cold pins (teacher + aligned student + calibration)."""
