"""The architectures each model family offers, by name, importable without torch: the
workflow's config checks and wildcards read the names from here."""

# SLR's video classifiers: torchvision builder, Kinetics-400 weights (attribute of the
# builder's weights enum), head attribute and input statistics (models.normalisation).
VIDEO_ARCHS = {
    "S3D": ("s3d", "S3D_Weights.KINETICS400_V1", "classifier", "KINETICS"),
    "R3D_18": ("r3d_18", "R3D_18_Weights.KINETICS400_V1", "fc", "KINETICS"),
    "R(2+1)D_18": ("r2plus1d_18", "R2Plus1D_18_Weights.KINETICS400_V1", "fc", "KINETICS"),
    "Swin3D_T": ("swin3d_t", "Swin3D_T_Weights.KINETICS400_V1", "head", "IMAGENET"),
    "Swin3D_S": ("swin3d_s", "Swin3D_S_Weights.KINETICS400_V1", "head", "IMAGENET"),
    "Swin3D_B": ("swin3d_b", "Swin3D_B_Weights.KINETICS400_IMAGENET22K_V1", "head", "IMAGENET"),
    "MViTv2_S": ("mvit_v2_s", "MViT_V2_S_Weights.KINETICS400_V1", "head", "MVIT"),
    "MViTv1_B": ("mvit_v1_b", "MViT_V1_B_Weights.KINETICS400_V1", "head", "MVIT"),
}
VIDEO_MODELS = tuple(VIDEO_ARCHS)

# Detectors by backbone: Faster R-CNN over the original's ResNet-FPN variants or a light
# MobileNet one, and the original's RetinaNet over a ResNet-50-FPN.
RESNET_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
LIGHT_BACKBONE = "mobilenet_v3_small"
RETINANET = "retinanet_resnet50"
DETECTION_BACKBONES = (*RESNET_BACKBONES, LIGHT_BACKBONE, RETINANET)

# CORnet architectures of CORnet-100's run.py (`--model`); `times` applies to the recurrent
# ones, `outer_times` to the feedback model.
CORNET_MODELS = ("Z", "R", "RT", "S", "S100")
CORNET_RECURRENT = ("R", "RT")
CORNET_FEEDBACK = "S100"

# Saliency (kdsalbox): the hypernetwork types (models/hypernet.py) and the decoder's
# activations (models/saliency_net.py), by the config's names.
SALIENCY_HYPERNETWORKS = ("chunked", "simple", "single_layer")
SALIENCY_ACTIVATIONS = ("relu", "relu6", "leaky_relu")
