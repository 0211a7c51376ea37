"""perf/check_convergence.py's logic: which cells it samples, how it extends a fit, when a cell counts as converged."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

_spec = importlib.util.spec_from_file_location("check_convergence",
                                               Path(__file__).resolve().parents[1] / "perf" / "check_convergence.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_extension_multiplies_the_resolved_cap_and_patience():
    # suite-level hparams leave epochs/patience to the method's defaults (100 and 4 for the log-mel networks)
    assert check.extended_hparams("cnn", {"progress": False}) == {"progress": False, "epochs": 300, "patience": 12}
    assert check.extended_hparams("dae", {"early_stopping": True, "epochs": 20}, factor=2) == {
        "early_stopping": True, "epochs": 40, "patience": 20}
    assert check.extended_hparams("dae", {"epochs": 20}) is None        # a fixed schedule has nothing to converge to
    assert check.extended_hparams("logreg", {}) is None                 # not iterative


@pytest.mark.parametrize("base, longer, converged", [
    ({"ua": 0.50, "stop_reason": "early_stop"}, {"ua": 0.509}, True),
    ({"ua": 0.50, "stop_reason": "early_stop"}, {"ua": 0.489}, False),     # 1.1 points lower is outside
    ({"ua": 0.50, "stop_reason": "early_stop"}, {"ua": 0.52}, False),      # the longer fit gains: not converged
    ({"ua": 0.50, "stop_reason": "epoch_cap"}, {"ua": 0.50}, False),       # stopped by its cap: never converged
])
def test_verdict(base, longer, converged):
    v = check.verdict(base, longer, tolerance=0.01)
    assert v["converged"] is converged
    assert v["ua_diff"] == pytest.approx(longer["ua"] - base["ua"])


def _cell(method, protocol, registered=None, hparams=None):
    return SimpleNamespace(method=method, registered=registered or method, protocol=SimpleNamespace(label=protocol),
                           hparams=hparams if hparams is not None else {"progress": False})


def test_sample_takes_the_first_cells_of_each_neural_method_on_the_main_protocol():
    cells = [_cell("logreg", "kfold", hparams={}), _cell("cnn", "kfold"), _cell("cnn", "kfold"),
             _cell("cnn", "unseen"), _cell("emotion_extractor", "unseen"), _cell("dae", "kfold", hparams={}),
             _cell("cnn/wide", "kfold", registered="cnn", hparams={"channels": [64, 64, 64]})]
    picked = check.sample_cells(cells, per_method=1, methods=None)
    assert [c.method for c in picked] == ["cnn", "cnn/wide"]
    assert picked[0] is cells[1]
    assert [c.method for c in check.sample_cells(cells, per_method=2, methods={"cnn"})] == ["cnn", "cnn"]
