"""Emotion-representation methods (seed methods; baselines live in ``baselines/``)."""
from benchmark.methods.base import METHODS, FeatureSet, HParams, Method
from benchmark.methods import vae, vae_conv  # noqa: F401,E402  (dae, vae, vae_kl_annealing, ssvae, *_conv)
from benchmark.methods import emotion_extractor, speaker_adversarial  # noqa: F401,E402
from benchmark.methods import layer_probe  # noqa: F401,E402  (superb_probe, on pretrained encoders)

__all__ = ["METHODS", "FeatureSet", "HParams", "Method"]
