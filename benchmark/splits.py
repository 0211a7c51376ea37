"""A Split: which utterances train, validate and test one model, and on what labels.

Protocols (``benchmark/protocols.py``) produce Splits from a Manifest; the
runner turns each Split into one grid cell. A Split holds ids only, so it is
cheap to build, hash and log.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import pandas as pd

from benchmark.errors import ManifestError


@dataclass(frozen=True)
class Split:
    protocol: str                       # registry name of the protocol that made it
    fold: str                           # fold / condition name, unique within a protocol run
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    labels: tuple[str, ...]             # class set, in a fixed order
    label_map: dict[str, str] = field(default_factory=dict)  # manifest emotion -> class
    speaker_independent: bool = False   # train/val and test share no speaker (asserted)
    meta: dict = field(default_factory=dict)  # e.g. imbalance ratio, train/test corpus

    def frames(self, manifest: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The train/val/test rows of ``manifest`` with emotions mapped to classes."""
        indexed = manifest.set_index("utt_id", drop=False)
        out = {}
        for part, ids in (("train", self.train_ids), ("val", self.val_ids), ("test", self.test_ids)):
            rows = indexed.loc[list(ids)].reset_index(drop=True)
            if self.label_map:
                rows["emotion"] = rows["emotion"].map(self.label_map)
            out[part] = rows
        return out

    def check_speaker_disjoint(self, manifest: pd.DataFrame) -> None:
        """Raise unless no test speaker appears in train or val."""
        speaker = manifest.set_index("utt_id")["speaker"]
        seen = set(speaker.loc[list(self.train_ids)]) | set(speaker.loc[list(self.val_ids)])
        shared = sorted(seen & set(speaker.loc[list(self.test_ids)]))
        if shared:
            raise ManifestError(
                f"protocol {self.protocol} fold {self.fold}",
                [f"speaker {s!r} is in both train/val and test" for s in shared],
            )

    def digest(self) -> str:
        """Hash of the split's content, recorded with every result.

        Computed once per Split: a Split is never changed after it is made, and every cell key needs it
        (``asdict`` copies the thousands of ids; recomputing it took the run's driver about 6 CPU s)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            payload = json.dumps(asdict(self), sort_keys=True, default=list)
            cached = hashlib.sha256(payload.encode()).hexdigest()[:16]
            self.__dict__["_digest"] = cached   # not a field: equality, asdict and repr ignore it
        return cached
