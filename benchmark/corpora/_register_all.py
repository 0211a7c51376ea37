"""Imports every loader module so that each registers itself in CORPORA."""

# The embedded default corpus (synthetic, built offline with eSpeak NG).
from benchmark.corpora import embedded  # noqa: E402,F401

# Real corpora, read from the user's own copy in its published layout.
from benchmark.corpora import (  # noqa: E402,F401
    aesd, cafe, cmu_mosei, crema_d, csv_manifest, emobox, emodb, emovo, esd, iemocap, msp_podcast, ravdess, savee,
    urdu,
)
