"""Keras model definitions -> LightningModule classes: extraction, graph IR, shapes, codegen."""
