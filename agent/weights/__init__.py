"""Keras -> torch weight porting: the engine and its per-layer rules."""

from agent.weights.base import PortError
from agent.weights.engine import load_keras_model, port_weights

__all__ = ["PortError", "load_keras_model", "port_weights"]
