"""The Lightning engine every experiment trains on: fit/evaluate, module and datamodule
bases, callbacks, checkpoint IO, samplers, hyperparameter search. Nothing experiment-specific."""
