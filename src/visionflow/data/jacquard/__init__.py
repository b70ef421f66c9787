"""The Jacquard grasping dataset: raw folders, the grasp-map codec, conversion, the packed store."""

DEFAULT_CLASSES = ("Chair", "Lamp", "figurines", "plants", "pen+pencil")
SPLITS = ("train", "test")  # the split folders the workflow trains and tests on
ARRAYS = ("rgb", "depth", "mask", "maps")  # the packed .npy arrays of a prepared store
