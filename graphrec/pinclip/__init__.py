"""PinCLIP-style multimodal pin encoder: image + text + metadata towers, hybrid fusion,
image-text contrastive and neighbour-alignment training over the Pin-Board graph."""
