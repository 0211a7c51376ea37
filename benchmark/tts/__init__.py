"""Emotional TTS: objective scoring of synthesized speech (any system's outputs).

- :mod:`benchmark.tts.mcd`: mel-cepstral distortion with named, reproducible presets
- :mod:`benchmark.tts.asr`: Whisper transcription (openai-whisper or faster-whisper)
- :mod:`benchmark.tts.wer`: WER/CER with Whisper's normalisers and jiwer, comparability checks
- :mod:`benchmark.tts.prosody`: F0 RMSE/correlation after DTW, duration ratio
- :mod:`benchmark.tts.scoring`: score a TTS manifest (``emobench score-tts``)

Submodules are imported on demand: the ASR backends pull in torch/CTranslate2.
"""
