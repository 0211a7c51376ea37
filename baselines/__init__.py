"""Baseline methods, registered in benchmark.methods.METHODS like the seed methods."""
from baselines import classical  # noqa: F401  (majority, logreg, linear_svm, logreg_oversampled, logreg_smote)
