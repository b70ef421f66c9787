"""CORnet-100: CORnet-S with V4->V1 feedback (`outer_times` passes) on MiniImageNet."""

# Keys of the `cornet` config section that choose the runs and their jobs, not what a run computes.
JOB_KEYS = ("outer_times", "threads", "mem_mb", "runtime")
# The images a feature export takes from a folder: run.py test's glob (case-sensitive).
IMAGE_PATTERN = "*.JPEG"
