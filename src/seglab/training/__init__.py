"""Training a segmentation net: the LightningModule, its losses, optimization, metrics,
U-Net's border weight map and the recipe checks."""
