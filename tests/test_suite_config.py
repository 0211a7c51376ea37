"""Suite configs: shipped suites parse; bad keys and values are named in the error."""
from __future__ import annotations

import copy

import pytest
import yaml

from benchmark.errors import ConfigError
from benchmark.suite import list_suites, load_suite, parse_suite

MINIMAL = {
    "name": "t",
    "corpora": [{"name": "embedded", "options": {"size": 40}}],
    "methods": {"majority": {}},
    "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": [0, 1]}],
}


@pytest.mark.parametrize("name", ["smoke", "default", "full", "pretrained", "emobox_iemocap"])
def test_shipped_suites_parse(name):
    assert name in list_suites()
    suite = load_suite(name)
    assert suite.name == name and suite.protocols and suite.methods


# On a pretrained encoder's features: in `full` and `pretrained`, not `default` (extracting Whisper features
# of the default corpus costs minutes on 2 cores; docs/features.md has the measured speed).
PRETRAINED_ENCODER_METHODS = {"superb_probe", "frozen_logreg"}


def test_pretrained_encoder_methods_run_in_full_and_pretrained():
    assert PRETRAINED_ENCODER_METHODS <= set(load_suite("full").methods)
    assert PRETRAINED_ENCODER_METHODS <= set(load_suite("pretrained").methods)
    example = load_suite("emobox_iemocap")  # a documented example: IEMOCAP and WavLM on the user's disk
    assert example.methods["superb_probe"]["feature"]["name"] == "ssl"
    assert example.protocols[0].name == "leave_one_session_out"


# Trained in `full` only, to fit the default suite in 10 minutes; each family stays in `default`
# through its cheaper member (the value).
FULL_ONLY = {"dae_conv": "dae", "vae_conv": "vae", "ssvae_conv": "ssvae", "crnn_weighted": "cnn_weighted"}


def test_default_suite_covers_every_method_family_and_three_seeds_on_the_main_protocol():
    from benchmark.methods import METHODS

    suite = load_suite("default")
    assert set(suite.methods) == set(METHODS.names()) - PRETRAINED_ENCODER_METHODS - set(FULL_ONLY)
    assert set(FULL_ONLY.values()) <= set(suite.methods)
    assert set(load_suite("full").methods) == set(METHODS.names())
    main = suite.protocols[0]
    assert main.name == "speaker_kfold" and len(main.seeds) >= 3 and main.methods == "all"
    imbalance = next(p for p in suite.protocols if p.name == "imbalance")
    assert len(imbalance.seeds) >= 3 and {"emotion_extractor", "cnn"} <= set(imbalance.methods)
    assert {p.name for p in suite.protocols} >= {"speaker_kfold", "imbalance", "unseen_speakers", "cross_lingual"}


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["protocols"][0].update(seeds="many"), "protocols.0.seeds"),
        (lambda d: d["protocols"][0].update(name="nope"), "protocols.0.name"),
        (lambda d: d["methods"].update(nope={}), "methods.nope"),
        (lambda d: d["methods"].update(majority={"learning_rate": 1}), "learning_rate"),
        (lambda d: d["protocols"][0].update(methods=["logreg"]), "protocols.0.methods"),
        (lambda d: d["corpora"][0].update(path="/x"), "corpora.0.path"),
        (lambda d: d["protocols"].append(copy.deepcopy(d["protocols"][0])), "unique"),
        (lambda d: d["methods"].update({"nope/v": {}}), "methods.nope/v: unknown method 'nope'"),
        (lambda d: d["methods"].update({"logreg/v": {"C": -1}}), "methods.logreg/v"),
        (lambda d: d["methods"].update({"logreg": {"method": "majority"}}), "only a `base/variant`"),
    ],
)
def test_bad_config_names_the_key(edit, expected):
    data = copy.deepcopy(MINIMAL)
    edit(data)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        parse_suite(data, "suite.yaml")


def test_load_suite_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_suite(bad)
    with pytest.raises(ConfigError, match="unknown suite"):
        load_suite("no-such-suite")


def test_digest_ignores_tracking_location_but_not_content(tmp_path):
    a = parse_suite(copy.deepcopy(MINIMAL))
    b_data = copy.deepcopy(MINIMAL)
    b_data["tracking"] = {"uri": f"sqlite:///{tmp_path}/other.db"}
    assert parse_suite(b_data).digest() == a.digest()
    c_data = copy.deepcopy(MINIMAL)
    c_data["protocols"][0]["seeds"] = [0, 1, 2]
    assert parse_suite(c_data).digest() != a.digest()


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    assert load_suite(path) == parse_suite(MINIMAL)


def test_a_variant_is_its_base_method_with_overrides():
    data = copy.deepcopy(MINIMAL)
    data["methods"].update({"logreg/strong": {"C": 10.0}, "weak/one": {"method": "logreg", "C": 0.01}})
    suite = parse_suite(data, "suite.yaml")
    assert suite.base_method("logreg/strong") == "logreg" and suite.hparams_of("logreg/strong") == {"C": 10.0}
    assert suite.base_method("weak/one") == "logreg" and suite.hparams_of("weak/one") == {"C": 0.01}
    assert suite.base_method("logreg") == "logreg"
