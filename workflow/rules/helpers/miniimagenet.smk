# Inputs, params and targets of the rules in rules/miniimagenet.smk.
PREPARED_MINIIMAGENET = "data/prepared/miniimagenet"


def get_miniimagenet_root(wildcards):
    return config["miniimagenet"]["root"]


def prepared_miniimagenet(*names):
    return [os.path.join(PREPARED_MINIIMAGENET, name) for name in names]
