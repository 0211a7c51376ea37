"""Emotion-representation methods (seed methods; baselines live in ``baselines/``)."""
from benchmark.methods.base import METHODS, FeatureSet, HParams, Method

__all__ = ["METHODS", "FeatureSet", "HParams", "Method"]
