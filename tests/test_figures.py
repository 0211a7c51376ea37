"""The report's figures: method families and styles, and every figure checked as a reviewer would read it."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmark.report import style as ST


def _registered() -> list[str]:
    import baselines  # noqa: F401  (registers the baselines)
    from benchmark.methods import METHODS

    return METHODS.names()


# ----------------------------------------------------------------------------- styles


def test_every_registered_method_has_a_known_family():
    names = _registered()
    assert len(names) == 19
    assert [n for n in names if ST.family_of(n) is ST.OTHER] == []
    assert {ST.family_of(n).key for n in ST.PAPER_METHODS} == {"emotion_extractor", "speaker_adversarial", "vae"}


def test_a_family_shares_a_hue_and_line_style_and_members_differ_in_greyscale():
    styles = ST.method_styles(_registered())
    by_family = {}
    for name, s in styles.items():
        by_family.setdefault(s.family, []).append((name, s))
    assert len(by_family) == 8
    for family, members in by_family.items():
        assert len({s.linestyle for _, s in members}) == 1, family
        assert len({s.marker for _, s in members}) == len(members), family    # markers tell members apart
        assert len({s.hatch for _, s in members}) == len(members), family     # so do bar hatches
    # Across the whole set, no two methods look alike without colour: (marker, line style) pairs are unique.
    signatures = [(s.marker, s.linestyle) for s in styles.values()]
    assert len(set(signatures)) == len(signatures)
    # Papers' methods: solid lines; baselines: dashed patterns.
    assert all((s.linestyle == "-") == s.paper for s in styles.values())


def test_family_hues_differ_between_families():
    hues = {f.key: f.colour for f in ST.FAMILIES}
    assert len(set(hues.values())) == len(hues)


def test_styles_are_stable_whatever_else_is_shown():
    alone = ST.method_style("logreg_smote")
    assert ST.method_styles(["logreg_smote"])["logreg_smote"] == alone
    assert ST.method_styles(_registered())["logreg_smote"] == alone
    assert ST.method_style("my_method") == ST.method_style("my_method")   # hash-based, not order-based


def test_unknown_methods_and_variants_get_distinct_styles():
    names = _registered() + [f"user_method_{i}" for i in range(12)] + ["ssvae/no_kl", "ssvae/beta4", "logreg/C10"]
    styles = ST.method_styles(names)
    pairs = [(s.colour, s.marker) for s in styles.values()]
    assert len(set(pairs)) == len(pairs)
    assert {styles[f"user_method_{i}"].family for i in range(12)} == {"other"}
    # A variant inherits its base's family and shade but has its own marker and a dotted line.
    base, variant = styles["ssvae"], styles["ssvae/no_kl"]
    assert (variant.family, variant.colour, variant.paper) == ("vae", base.colour, True)
    assert variant.marker != base.marker and variant.linestyle != base.linestyle
    assert ST.family_of("logreg/C10").key == "linear"
    assert ST.split_variant("a/b") == ("a", "b") and ST.split_variant("plain") == ("plain", None)


def test_display_order_draws_papers_last():
    order = ST.display_order(["ssvae", "majority", "mine", "emotion_extractor", "logreg"])
    assert order == ["majority", "logreg", "mine", "emotion_extractor", "ssvae"]


def test_main_selection_is_papers_plus_the_best_of_each_baseline_family():
    names = _registered()
    score = {n: 0.5 for n in names} | {"linear_svm": 0.7, "cnn_oversampled": 0.8, "crnn": 0.6, "dae_conv": 0.1}
    main = ST.select_main(names, score)
    assert set(main) == {*ST.PAPER_METHODS, "majority", "linear_svm", "cnn_oversampled", "crnn", "dae"}
    assert ST.select_main(names + ["mine"], score)[-5] == "mine"     # a user's method is always shown
    # lower is better (e.g. leakage) flips the choice; unscored families keep their first member
    main = ST.select_main(["logreg", "linear_svm", "cnn", "crnn"], {"logreg": 0.9, "linear_svm": 0.2},
                          higher_is_better=False)
    assert main == ["linear_svm", "cnn"]
