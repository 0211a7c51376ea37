"""Emotion-representation methods (seed methods here; baselines live in ``baselines/``).

``METHODS`` lists every shipped method and imports a method's module only when it is looked up.
"""
from benchmark.methods.base import METHOD_MODULES, METHODS, FeatureSet, HParams, Method

__all__ = ["METHODS", "METHOD_MODULES", "FeatureSet", "HParams", "Method"]
