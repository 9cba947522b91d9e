"""Custom Layer and subclassed Model classes -> nn.Module / LightningModule classes."""
