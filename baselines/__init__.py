"""Baseline methods, listed in benchmark.methods.METHODS beside the seed methods (imported on first use):
classical (majority, logreg, linear_svm, logreg_oversampled, logreg_smote), cnn (cnn, crnn, cnn_weighted,
crnn_weighted, cnn_oversampled) and frozen (frozen_logreg on a pretrained encoder)."""
