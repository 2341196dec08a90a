"""2D GMM mode classification (3 tasks × 2 modes): thin launchers ``train_gmm_*.py``."""
