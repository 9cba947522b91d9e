"""Keras/TF ops -> torch: the op table, its spec language and the expression rewriter."""
