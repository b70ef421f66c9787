"""Input statistics (mean, std of RGB in [0, 1]) each family of pretrained weights expects."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)
KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
MVIT = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
