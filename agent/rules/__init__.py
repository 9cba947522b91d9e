"""The rule engine: deterministic libcst rewrites of Keras code (imports, layers, ops, models, classes, training)."""
