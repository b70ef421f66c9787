"""Readers of the raw datasets and the prepared stores they write."""

# How WLASL frames are cropped before packing (`wlasl.crop`), importable without torch.
WLASL_CROPS = ("none", "bbox")
