"""Raw (non-learned) pin content features: image pixels, text TF-IDF and metadata, reduced by PCA.

``graphrec raw-features`` writes them as a content embedding directory (model_name ``raw``): the
stand-in for PinCLIP features and the input of the "SAGE on raw features" ablation.
"""

from graphrec.features.raw import RawFeatureConfig, raw_features, write_raw_features

__all__ = ["RawFeatureConfig", "raw_features", "write_raw_features"]
