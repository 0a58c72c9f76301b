"""Models: the ResNet34 classifier, the lung U-Net, their weights on disk, and the service that holds them loaded."""
