"""SplitCIFAR-10/100: thin launchers ``train_resnet_*.py`` (ResNet-32, WRN-28-10, ResNet-18, ...) and
``train_zenke_*.py`` (ZenkeNet)."""
