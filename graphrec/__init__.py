"""graphrec: PinCLIP + PinSage style recommendations for catalogues and curated collections."""

__version__ = "0.1.0"
