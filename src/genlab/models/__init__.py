"""One LightningModule per model family; `base` holds what they share."""
