"""The training layer: the trainer, evaluation, checkpoints, devices and distributed runs.
Imports the top, data, model and media layers."""
