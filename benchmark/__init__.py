"""emobench: evaluation and benchmarking suite for speech emotion representations."""
__version__ = "0.1.0"
