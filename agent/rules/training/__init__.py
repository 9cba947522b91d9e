"""Keras training code -> Lightning: compile/fit/data, callbacks, losses, optimizers, metrics, regularizers."""
