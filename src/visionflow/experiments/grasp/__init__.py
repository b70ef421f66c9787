"""NeuroVis: one RGB-D AlexnetMap trained on Jacquard for classification (CLS) or grasping (GRASP).

Both tasks use the same network, loss and hyperparameters; only the target map differs.
"""

TASKS = ("cls", "grasp")
# Keys of the `grasp` config section that choose the runs and their jobs, not what a run computes.
JOB_KEYS = ("tasks", "threads", "mem_mb", "runtime", "vis_samples", "weights")
