"""The emotion vocabulary every manifest uses, and the shared label maps.

Corpus loaders translate their own codes (``W`` in EmoDB, ``ang`` in IEMOCAP,
``03`` in RAVDESS, ...) into these canonical names, so protocols and metrics
never see corpus-specific codes.
"""
from __future__ import annotations

# Canonical emotion names. A loader that meets a label outside its own code
# table raises; a label outside this list can never reach a manifest.
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "angry",
    "sad",
    "fear",
    "disgust",
    "surprise",
    "calm",
    "contempt",
    "excited",
    "frustrated",
    "boredom",
    "other",
)

# The four classes the field reports most (IEMOCAP 4-class, the source papers).
CORE4: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
# The 3-class set used by the transferable-representation paper where a
# corpus has no usable "happy" (or to compare with it).
CORE3: tuple[str, ...] = ("neutral", "sad", "angry")

NEUTRAL = "neutral"


def label_map(classes: tuple[str, ...] | list[str], merge_excited: bool = True) -> dict[str, str]:
    """Map canonical emotions onto ``classes``; emotions not covered are absent.

    ``merge_excited`` applies the common IEMOCAP convention excited -> happy.
    """
    mapping = {c: c for c in classes}
    if merge_excited and "happy" in classes and "excited" not in classes:
        mapping["excited"] = "happy"
    return mapping
