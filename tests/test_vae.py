"""The VAE family: KL schedules, losses, outlier removal, semi-supervision, unlabelled data, conv extension."""
from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import pytest
import torch

from benchmark.errors import ConfigError, EmobenchError
from benchmark.methods import METHODS, FeatureSet
from benchmark.methods.linear import outlier_rows
from benchmark.methods.vae import (MLPAutoencoder, clustering_loss, kl_divergence, kl_weight,
                                   reconstruction_loss)
from benchmark.methods.vae_conv import ConvAutoencoder

FAST = {"epochs": 3, "batch_size": 16, "progress": False}
CLASSES = ["angry", "neutral", "sad"]


def make_set(n: int = 60, dims: int = 12, seed: int = 0, labelled: bool = True) -> FeatureSet:
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 3] for i in range(n)])
    X = rng.normal(size=(n, dims)) * 3 + 50
    X[:, :3] += 9 * np.eye(3)[[CLASSES.index(c) for c in y]]
    return FeatureSet([f"u{seed}_{i}" for i in range(n)], X, y if labelled else None,
                      np.array([f"spk{i % 4}" for i in range(n)]), np.array(["en"] * n))


def make_frames(n: int = 24, seed: int = 0, n_mels: int = 16) -> FeatureSet:
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 3] for i in range(n)])
    X = []
    for c in y:
        x = rng.normal(size=(int(rng.integers(10, 40)), n_mels)).astype(np.float32)
        x[:, CLASSES.index(c) * 4:(CLASSES.index(c) + 1) * 4] += 3
        X.append(x)
    return FeatureSet([f"f{seed}_{i}" for i in range(n)], X, y, np.array(["s"] * n), np.array(["en"] * n))


# ----------------------------------------------------------------------------- KL schedules


def paper_schedule(e: int, T: int, M: int, R: Fraction, beta: Fraction = Fraction(1, 4)) -> Fraction:
    """The paper's formula in exact rational arithmetic: tau = mod(e-1, T/M) / (T/M)."""
    period = Fraction(T, M)
    tau = (Fraction(e - 1) % period) / period
    return beta / R * tau if tau <= R else beta


@pytest.mark.parametrize("T,M,R", [(50, 4, Fraction(1, 2)), (10, 2, Fraction(1, 2)), (30, 3, Fraction(1, 4)),
                                   (20, 5, Fraction(1)), (7, 3, Fraction(2, 3)), (50, 1, Fraction(1, 2))])
def test_cyclical_schedule_follows_the_paper(T, M, R):
    for e in range(1, T + 1):
        got = kl_weight(e, T, schedule="cyclical", beta=0.25, ratio=float(R), cycles=M)
        assert got == pytest.approx(float(paper_schedule(e, T, M, R)), abs=1e-15), e


def test_cyclical_schedule_hand_values():
    # T=10, M=2, R=0.5: each cycle of 5 epochs rises 0, 0.1, 0.2 then holds 0.25, 0.25.
    got = [kl_weight(e, 10, schedule="cyclical", beta=0.25, ratio=0.5, cycles=2) for e in range(1, 11)]
    assert got == [0.0, 0.1, 0.2, 0.25, 0.25] * 2
    # T=8, M=4, R=0.5: tau alternates 0 and 0.5 (= R, still on the ramp: 0.25/0.5*0.5).
    assert [kl_weight(e, 8, schedule="cyclical", ratio=0.5, cycles=4) for e in range(1, 9)] == [0.0, 0.25] * 4


def test_linear_schedule_is_one_cycle():
    got = [kl_weight(e, 10, schedule="linear", beta=0.25, ratio=0.5) for e in range(1, 11)]
    assert got == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.25, 0.25, 0.25, 0.25], abs=1e-15)
    assert kl_weight(4, 10, schedule="linear", ratio=0.5, cycles=7) == kl_weight(4, 10, schedule="cyclical",
                                                                                  ratio=0.5, cycles=1)
    assert [kl_weight(e, 5, schedule="none", beta=1.0) for e in range(1, 6)] == [1.0] * 5
    with pytest.raises(ValueError):
        kl_weight(0, 10, schedule="cyclical")


def test_training_applies_the_schedule_per_epoch():
    m = METHODS.get("vae_kl_annealing")(epochs=8, anneal_cycles=2, anneal_ratio=0.5, batch_size=32,
                                        progress=False).fit(make_set(60))
    assert [h["beta"] for h in m.history_] == [0.0, 0.125, 0.25, 0.25, 0.0, 0.125, 0.25, 0.25]
    assert [h["beta"] for h in m.history_] == [kl_weight(e, 8, ratio=0.5, cycles=2) for e in range(1, 9)]


def test_anneal_period_repeats_the_cycle_whatever_the_epoch_cap():
    short = METHODS.get("vae_kl_annealing")(epochs=8, anneal_cycles=2, anneal_ratio=0.5)
    capped = METHODS.get("vae_kl_annealing")(epochs=200, anneal_period=4, anneal_ratio=0.5)
    # the 8-epoch, 2-cycle schedule has 4-epoch cycles; a period of 4 gives the same under any cap
    assert [capped._kl_weight(e) for e in range(1, 9)] == [short._kl_weight(e) for e in range(1, 9)]
    assert [capped._kl_weight(e) for e in range(101, 105)] == [0.0, 0.125, 0.25, 0.25]
    linear = METHODS.get("vae")(epochs=200, kl_schedule="linear", beta=0.25, anneal_period=4, anneal_ratio=0.5)
    assert [linear._kl_weight(e) for e in (1, 2, 3, 4, 50)] == [0.0, 0.125, 0.25, 0.25, 0.25]


# ----------------------------------------------------------------------------- losses


def test_kl_is_zero_for_the_prior_and_matches_torch_distributions():
    assert kl_divergence(torch.zeros(5, 3), torch.zeros(5, 3)).item() == 0.0
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
                                            torch.distributions.Normal(0.0, 1.0)).sum(dim=1).mean()
    assert kl_divergence(mu, logvar).item() == pytest.approx(ref.item(), rel=1e-6)


def clustering_reference(z: np.ndarray, y: np.ndarray) -> float:
    keep = y >= 0
    z, y = z[keep], y[keep]
    classes = np.unique(y)
    cent = {c: z[y == c].mean(axis=0) for c in classes}
    intra = sum(np.linalg.norm(z[i] - cent[y[i]]) for i in range(len(z)))
    inter = sum(np.linalg.norm(cent[a] - cent[b]) for i, a in enumerate(classes) for b in classes[i + 1:])
    return intra / inter


def test_clustering_loss_tight_vs_mixed():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    centres = np.array([[10.0, 0], [0, 10.0], [-10.0, -10.0]])
    tight = centres[y] + rng.normal(scale=1e-3, size=(60, 2))
    mixed = rng.normal(size=(60, 2))
    loss_tight = clustering_loss(torch.tensor(tight), torch.tensor(y)).item()
    loss_mixed = clustering_loss(torch.tensor(mixed), torch.tensor(y)).item()
    assert loss_tight < 1e-2
    assert loss_mixed > 10
    # sqrt(d^2 + 1e-8) shifts distances of about 1e-3 by under 1%.
    assert loss_tight == pytest.approx(clustering_reference(tight, y), rel=1e-2)
    assert loss_mixed == pytest.approx(clustering_reference(mixed, y), rel=1e-6)


def test_clustering_loss_ignores_unlabelled_and_single_classes():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(10, 3))
    y = np.array([0, 0, 1, 1, -1, -1, 2, -1, 2, 0])
    expected = clustering_reference(z, y)
    assert clustering_loss(torch.tensor(z), torch.tensor(y)).item() == pytest.approx(expected, rel=1e-5)
    assert clustering_loss(torch.tensor(z), torch.tensor([0] * 5 + [-1] * 5)).item() == 0.0
    # A class with one point sits on its centroid; the gradient must stay finite.
    zt = torch.tensor(z[:3], requires_grad=True)
    clustering_loss(zt, torch.tensor([0, 1, 1])).backward()
    assert torch.isfinite(zt.grad).all()


def test_reconstruction_loss_masks_padding():
    recon, target = torch.ones(2, 1, 4, 3), torch.zeros(2, 1, 4, 3)
    assert reconstruction_loss(recon, target).item() == 12.0
    mask = torch.zeros(2, 1, 4, 1)
    mask[:, :, :2] = 1
    assert reconstruction_loss(recon, target, mask).item() == 6.0
    # The conv extension averages over real frames: 2 frames x 3 bins of error 1 -> 3 per frame.
    mask[1, :, 2:] = 1   # second example: all 4 frames real -> 12 / 4 = 3
    assert METHODS.get("dae_conv")()._reconstruction(recon, target, mask).item() == 3.0


# ----------------------------------------------------------------------------- backbones


def test_mlp_backbone_shapes():
    x = torch.zeros(5, 88)
    vae = MLPAutoencoder(88, 32, 8, variational=True)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 8) and vae.decode(mu).shape == (5, 88)
    dae = MLPAutoencoder(88, 32, 8, variational=False)
    mu, logvar = dae.encode(x)
    assert mu.shape == (5, 8) and logvar is None


@pytest.mark.parametrize("pooling", ["time_stats", "flatten"])
@pytest.mark.parametrize("segment,n_mels,channels", [(128, 64, [16, 32, 32]), (20, 10, [4, 4]), (9, 7, [3]),
                                                     (8, 64, [4, 4, 4, 4])])
def test_conv_backbone_shapes(segment, n_mels, channels, pooling):
    net = ConvAutoencoder(n_mels, segment, channels, latent=5, variational=True, pooling=pooling)
    mu, logvar = net.encode(torch.randn(3, 1, segment, n_mels))
    assert mu.shape == logvar.shape == (3, 5) and torch.isfinite(mu).all()
    assert net.decode(mu).shape == (3, 1, segment, n_mels)


def test_time_pooled_decoder_paints_a_time_invariant_map():
    # The grid decoder (files saved before the spectrum decoder): the latent is broadcast over time; after
    # one stride-2 transposed convolution the output repeats every 2 frames away from the edges.
    net = ConvAutoencoder(8, 16, [4], latent=3, variational=False, pooling="time_stats", decoder="grid")
    decoded = net.decode(torch.randn(2, 3))[:, 0]
    for t in range(2, 12, 2):
        assert torch.allclose(decoded[:, t], decoded[:, 2], atol=1e-6)
    flat = ConvAutoencoder(8, 16, [4], latent=3, variational=False, pooling="flatten")
    decoded = flat.decode(torch.randn(2, 3))[:, 0]
    assert not torch.allclose(decoded[:, 4], decoded[:, 2], atol=1e-6)
    with pytest.raises(ValueError, match="pooling"):
        ConvAutoencoder(8, 16, [4], latent=3, variational=False, pooling="max")


def test_spectrum_decoder_paints_one_spectrum_over_every_frame_and_learns_through_it():
    net = ConvAutoencoder(10, 16, [4, 4], latent=3, variational=False, decoder="spectrum")
    z = torch.randn(2, 3, requires_grad=True)
    decoded = net.decode(z)
    assert decoded.shape == (2, 1, 16, 10)
    assert torch.equal(decoded, decoded[:, :, :1].expand_as(decoded))
    assert not torch.allclose(decoded[0, 0, 0], decoded[1, 0, 0])      # one spectrum per segment
    # The broadcast sums the frames' gradients: the same as decoding one spectrum and repeating it.
    target = torch.randn(2, 1, 16, 10)
    ((decoded - target) ** 2).sum().backward()
    grad = z.grad.clone()
    z.grad = None
    one = net.decode(z)[:, :, :1]
    (((one - target) ** 2).sum()).backward()
    torch.testing.assert_close(z.grad, grad)
    with pytest.raises(ValueError, match="time_stats"):
        ConvAutoencoder(8, 16, [4], latent=3, variational=False, pooling="flatten", decoder="spectrum")
    with pytest.raises(ValueError, match="decoder"):
        ConvAutoencoder(8, 16, [4], latent=3, variational=False, decoder="frames")


def test_conv_files_saved_before_the_spectrum_decoder_load_with_their_grid_decoder(tmp_path):
    import json

    train = make_frames()
    m = METHODS.get("dae_conv")(segment_frames=8, channels=[4, 4], decoder="grid", **FAST).fit(train)
    path = m.save(tmp_path / "m")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["model_args"]["decoder"] == "grid"
    del meta["model_args"]["decoder"]                                # as written before the option existed
    (path / "meta.json").write_text(json.dumps(meta))
    loaded = type(m).load(path)
    assert not loaded.model_.spectral
    np.testing.assert_allclose(loaded.embed(train), m.embed(train), rtol=1e-5, atol=1e-6)
    spectral = METHODS.get("dae_conv")(segment_frames=8, channels=[4, 4], **FAST).fit(train)
    reloaded = type(spectral).load(spectral.save(tmp_path / "s"))
    assert reloaded.model_.spectral
    np.testing.assert_allclose(reloaded.embed(train), spectral.embed(train), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- the methods


def test_outlier_rows_are_removed_from_training_and_counted(caplog):
    X = np.zeros((4, 3))
    X[2, 1] = 11.0
    assert outlier_rows(X, 10.0).tolist() == [False, False, True, False]
    train = make_set(150)
    # One extreme row in n rows has |z| <= (n-1)/sqrt(n) when it is in the statistics: 12.1 for 150.
    train.X[7, 4] = 1e6
    with caplog.at_level(logging.WARNING):
        m = METHODS.get("dae")(**FAST).fit(train)
    assert m.n_outliers_ == {"train": 1}
    assert "u0_7" in caplog.text
    assert m.predict_proba(train).shape == (150, 3)   # never dropped at prediction time
    kept = METHODS.get("dae")(**FAST, outlier_z=None).fit(train)
    assert kept.n_outliers_ == {"train": 0}


@pytest.mark.parametrize("name", ["dae", "vae", "vae_kl_annealing", "ssvae"])
def test_mlp_variants_learn_separable_classes(name):
    train, test = make_set(150, seed=0), make_set(90, seed=1)
    m = METHODS.get(name)(epochs=15, progress=False, seed=0).fit(train)
    ua = np.mean([(m.predict(test)[test.y == c] == c).mean() for c in CLASSES])
    assert ua > 0.8, ua
    assert m.embed(test).shape == (90, m.hp.latent_dim)


def test_defaults_follow_the_paper():
    for name in ("dae", "vae", "vae_kl_annealing", "ssvae"):
        hp = METHODS.get(name)().hp
        assert (hp.epochs, hp.batch_size, hp.lr, hp.outlier_z, hp.feature) == (50, 64, 1e-3, 10.0, "egemaps")
    assert METHODS.get("vae_kl_annealing")().hp.kl_schedule == "cyclical"
    assert METHODS.get("vae_kl_annealing")().hp.beta == 0.25
    assert METHODS.get("vae")().hp.kl_schedule == "none"
    with pytest.raises(ConfigError, match="beta"):
        METHODS.get("dae")(beta=0.5)           # the DAE has no KL term
    with pytest.raises(ConfigError, match="labelled_fraction"):
        METHODS.get("vae")(labelled_fraction=0.5)
    assert METHODS.get("ssvae")(feature="functionals").feature == "functionals"
    assert METHODS.get("ssvae").feature == "egemaps"


def test_labelled_fraction_keeps_that_share_of_each_class():
    m = METHODS.get("ssvae")(labelled_fraction=0.25, **FAST)
    y = np.array([0] * 40 + [1] * 20 + [2] * 3)
    rows = m._labelled_rows(y, np.random.default_rng(0))
    assert np.bincount(y[rows]).tolist() == [10, 5, 1]
    train = make_set(90)
    fitted = METHODS.get("ssvae")(labelled_fraction=0.2, **FAST).fit(train)
    assert fitted.svc_.named_steps["svc"].coef_.shape == (3, fitted.hp.latent_dim)


def test_unlabelled_data_trains_the_autoencoder():
    train, extra, test = make_set(60, seed=0), make_set(60, seed=5, labelled=False), make_set(30, seed=1)
    plain = METHODS.get("ssvae")(**FAST).fit(train)
    more = METHODS.get("ssvae")(**FAST).fit(train, unlabelled=extra)
    assert not np.allclose(plain.embed(test), more.embed(test))
    again = METHODS.get("ssvae")(**FAST).fit(train, unlabelled=extra)
    np.testing.assert_array_equal(more.predict_proba(test), again.predict_proba(test))
    with pytest.raises(EmobenchError, match="trained on 12"):
        METHODS.get("ssvae")(**FAST).fit(train, unlabelled=make_set(10, dims=5, labelled=False))


def test_early_stopping_validates_on_latent_svc(monkeypatch):
    from benchmark.methods import vae

    calls = []
    original = vae.AutoencoderMethod._validator

    def counting(self, *args, **kwargs):
        validate = original(self, *args, **kwargs)

        def wrapped(model):
            calls.append(validate(model))
            return calls[-1]

        return wrapped

    monkeypatch.setattr(vae.AutoencoderMethod, "_validator", counting)
    train, val = make_set(90, seed=0), make_set(30, seed=1)
    METHODS.get("dae")(**FAST, early_stopping=True).fit(train, val)
    assert calls and all(0.0 <= ua <= 1.0 for ua in calls)
    calls.clear()
    METHODS.get("dae")(**FAST).fit(train, val)   # off by default, as in the paper
    assert calls == []


def test_conv_encoding_averages_segments_by_real_frames():
    train = make_frames()
    m = METHODS.get("vae_conv")(segment_frames=8, channels=[4, 4], latent_dim=3, **FAST).fit(train)
    x = train.X[0][:20]   # 20 frames -> segments of 8, 8 and 4 real frames
    z = (x - m.mean_) / m.scale_
    segs = np.zeros((3, 8, x.shape[1]), dtype=np.float32)
    for k, start in enumerate((0, 8, 16)):
        part = z[start:start + 8]
        segs[k, :len(part)] = part
    with torch.no_grad():
        mu = m.model_.encode(torch.from_numpy(segs[:, None]))[0].double().numpy()
    expected = (8 * mu[0] + 8 * mu[1] + 4 * mu[2]) / 20
    got = m.embed(FeatureSet(["x"], [x], None, np.array(["s"]), np.array(["en"])))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-6)


def test_conv_rejects_bad_frames():
    m = METHODS.get("dae_conv")(segment_frames=8, channels=[4], **FAST).fit(make_frames())
    bad = FeatureSet(["a", "b"], [np.zeros((5, 16)), np.zeros((5, 9))], None, np.array(["s"] * 2),
                     np.array(["en"] * 2))
    with pytest.raises(EmobenchError, match="b: shape"):
        m.embed(bad)
    with pytest.raises(ConfigError, match="frame-level"):
        m.embed(make_set(3))


def test_thread_setting_is_restored():
    before = torch.get_num_threads()
    m = METHODS.get("dae")(**FAST, threads=1).fit(make_set(30))
    m.embed(make_set(6))
    assert torch.get_num_threads() == before


def test_conv_autoencoder_time_stats_are_the_feature_maps_mean_and_std_over_time():
    from benchmark.methods.vae_conv import ConvAutoencoder

    torch.manual_seed(0)
    model = ConvAutoencoder(16, 16, [4, 4], 3, variational=False).eval()
    x = torch.randn(5, 1, 16, 16)
    with torch.no_grad():
        f = model.features(x)
        pooled = torch.cat([f.mean(dim=2), f.std(dim=2, correction=0)], dim=1)
        torch.testing.assert_close(model.encode(x)[0], model.head(pooled.flatten(1)), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- the MLP objective's own gradient


def _objective_pair(name: str, activation: str, labels: np.ndarray, seed: int = 0):
    """Loss and gradients of one batch by MLPObjective (the method's _step) and by autograd (the shared _step)."""
    from benchmark.methods.vae import AutoencoderMethod, label_groups

    method = METHODS.get(name)(activation=activation, progress=False, seed=seed)
    method.classes_ = ["a", "b", "c", "d"]
    torch.manual_seed(seed)
    model = MLPAutoencoder(12, 16, 6, variational=name != "dae", activation=activation)
    x = torch.randn(len(labels), 12) * 2
    y = torch.as_tensor(labels)
    groups = label_groups(labels, range(0, len(labels), len(labels)), len(labels), 4)[0]
    results = []
    for step in (lambda: method._step(model, (x, None, y, groups), 3),
                 lambda: AutoencoderMethod._step(method, model, (x, None, y), 3)):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(11)                          # the same noise draws on both paths
        loss, logs = step()
        loss.backward()
        results.append((float(loss.detach()), logs, {k: p.grad.clone() for k, p in model.named_parameters()}))
    return results


@pytest.mark.parametrize("name", ["dae", "vae", "vae_kl_annealing", "ssvae"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_mlp_objective_matches_autograd_on_the_same_composition(name, activation):
    labels = np.array([0, 1, 2, 3, 0, 1, -1, 2, -1, 0, 3, 1, 2, 2, -1, 0])
    (fused_loss, fused_logs, fused_grads), (ref_loss, ref_logs, ref_grads) = _objective_pair(name, activation, labels)
    assert fused_loss == pytest.approx(ref_loss, rel=1e-5)
    assert fused_logs.keys() == ref_logs.keys()
    for key, value in ref_logs.items():
        assert fused_logs[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for key, grad in ref_grads.items():
        torch.testing.assert_close(fused_grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize("labels", [np.array([1] * 6 + [-1] * 4), np.array([2, 0, -1, -1, 0, 2, 2, 0, -1, 2])])
def test_ssvae_objective_with_one_class_or_absent_classes(labels):
    """One labelled class: L_clus is 0 with no gradient; absent classes and unlabelled rows are left out."""
    (fused_loss, fused_logs, fused_grads), (ref_loss, ref_logs, ref_grads) = _objective_pair("ssvae", "relu", labels)
    assert fused_logs["clus"] == pytest.approx(ref_logs["clus"], rel=1e-5, abs=1e-7)
    assert (fused_logs["clus"] == 0.0) == (len(set(labels[labels >= 0])) < 2)
    for key, grad in ref_grads.items():
        torch.testing.assert_close(fused_grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)


def test_label_groups_of_the_epochs_batches():
    from benchmark.methods.vae import label_groups

    labels = np.array([0, 2, -1, 2, 1, 1, -1])
    groups = label_groups(labels, range(0, 7, 3), 3, 3)
    assert [g.n_present for g in groups] == [2, 2, 0]
    np.testing.assert_array_equal(groups[0].members.numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(groups[1].inverse.numpy(), [1, 0.5, 1])
    np.testing.assert_array_equal(groups[0].pairs.numpy(), [[1, -1, 0], [1, 0, -1], [0, 1, -1]])
    np.testing.assert_array_equal(groups[0].pair_weights.numpy(), [0, 1, 0])
    np.testing.assert_array_equal(groups[2].labelled.numpy(), [0])


def test_mlp_weights_follow_the_modules_parameters_after_conversion_and_loading():
    from benchmark.methods.vae import MLPAutoencoder

    net = MLPAutoencoder(6, 5, 2, variational=True)
    first = net.weights()
    assert net.weights() is first and first[0] is net.encoder[0].weight
    net.double()                                           # may swap Parameter objects: the tuple is rebuilt
    assert all(w.dtype == torch.float64 for w in net.weights())
    assert [id(w) for w in net.weights()] == [id(p) for p in (net.encoder[0].weight, net.encoder[0].bias,
                                                               net.encoder[2].weight, net.encoder[2].bias,
                                                               net.decoder[0].weight, net.decoder[0].bias,
                                                               net.decoder[2].weight, net.decoder[2].bias)]
    other = MLPAutoencoder(6, 5, 2, variational=True).double()
    net.load_state_dict(other.state_dict(), assign=True)   # assign: new Parameter objects
    assert net.weights()[0] is net.encoder[0].weight
    torch.testing.assert_close(net.weights()[0], other.encoder[0].weight)
