"""The five experiments, one package each with the same interface: `build_model`, `train`,
`load`, `evaluate` and `summarize`, its figures, its importer of the original's files and
its CLI verbs. Package `__init__` modules import nothing heavy: the workflow reads their names."""

EXPERIMENTS = ("cornet", "grasp", "slr", "detection", "saliency")
