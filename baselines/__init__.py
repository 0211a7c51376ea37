"""Baseline methods, registered in benchmark.methods.METHODS like the seed methods."""
from baselines import classical  # noqa: F401  (majority, logreg, linear_svm, logreg_oversampled, logreg_smote)
from baselines import cnn  # noqa: F401,E402  (cnn, crnn, cnn_weighted, crnn_weighted, cnn_oversampled)
from baselines import frozen  # noqa: F401,E402  (frozen_logreg: logistic regression on a pretrained encoder)
