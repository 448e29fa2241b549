"""The brains that look at photos: the on-device CLIP model (``local``)."""
