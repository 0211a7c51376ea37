"""Seed-method building blocks on tiny tensors: gradient reversal, entropy loss, class-aware multiplicities."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.methods.emotion_extractor import EmotionExtractor, class_multiplicities
from benchmark.methods.speaker_adversarial import dann_lambda, grad_reverse, posterior_entropy
from benchmark.training import Trainer, TrainConfig, TrainingError


@pytest.mark.parametrize("scale", [0.0, 0.5, 2.0])
def test_gradient_reversal_flips_and_scales_gradients(scale):
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3)
    (grad_reverse(x, scale) * w).sum().backward()
    assert torch.allclose(x.grad, -scale * w.expand(4, 3))
    assert torch.equal(grad_reverse(x, scale), x)  # identity forward


def test_entropy_is_maximal_for_a_uniform_posterior():
    k = 6
    uniform = torch.zeros(5, k)
    assert posterior_entropy(uniform).item() == pytest.approx(math.log(k))
    peaked = torch.tensor([[5.0, 0, 0, 0, 0, 0]])
    random = torch.randn(100, k)
    assert posterior_entropy(peaked) < posterior_entropy(random) < posterior_entropy(uniform)


def test_dann_schedule_rises_from_zero_to_lambda_max():
    assert dann_lambda(0.0, 0.5) == 0.0
    assert dann_lambda(1.0, 0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-10)) - 1))
    assert dann_lambda(0.3, 1.0) < dann_lambda(0.6, 1.0)


def test_class_aware_multiplicities():
    # neutral 400, happy 100, angry 50, sad 10: (400/n)^0.5 -> 1, 2, 2.83, 6.3 -> rounded, capped at 4
    assert class_multiplicities(np.array([400, 100, 50, 10])).tolist() == [1, 2, 3, 4]
    assert class_multiplicities(np.array([400, 100, 50, 10]), power=1.0, max_multiplicity=100).tolist() == [1, 4, 8, 40]
    assert class_multiplicities(np.array([30, 30])).tolist() == [1, 1]


def test_emotion_extractor_epochs_draw_the_stated_multiplicities():
    method = EmotionExtractor(progress=False)
    method.class_counts_ = np.array([8.0, 2.0])
    method.classes_ = ["neutral", "sad"]
    method.multiplicity_ = class_multiplicities(method.class_counts_)
    y = np.array([0] * 8 + [1] * 2)
    rows = method.epoch_indices(y, np.random.default_rng(0))
    assert np.bincount(y[rows]).tolist() == [8, 4]  # sad (4x rarer) drawn twice


def test_nan_loss_names_the_method_and_step_and_keeps_last_good_weights(tmp_path):
    model = torch.nn.Linear(2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def step(m, batch, epoch):
        loss = m(batch).sum()
        return loss * float("nan") if epoch == 1 else loss, {}

    trainer = Trainer("toy", TrainConfig(epochs=2, progress=False), seed=0, checkpoint_dir=tmp_path)
    with pytest.raises(TrainingError, match="method toy: loss is nan at epoch 1, step 0"):
        trainer.fit(model, lambda e, r: [torch.ones(3, 2)], step)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert (tmp_path / "toy-last-good.pt").exists()


def _toy_fit(val_uas, epochs, patience):
    """A Trainer fit whose validation UA follows ``val_uas`` epoch by epoch."""
    model = torch.nn.Linear(2, 1)
    scores = iter(val_uas or [])
    trainer = Trainer("toy", TrainConfig(epochs=epochs, patience=patience, progress=False), seed=0)
    trainer.fit(model, lambda e, r: [torch.ones(3, 2)], lambda m, b, e: (m(b).pow(2).mean(), {"term": 1.0}),
                (lambda m: next(scores)) if val_uas is not None else None)
    return trainer


def test_convergence_says_early_stop_with_the_best_epoch():
    trainer = _toy_fit([0.3, 0.5, 0.4, 0.45, 0.2, 0.9], epochs=10, patience=3)
    c = trainer.convergence
    assert (c.epochs_run, c.best_epoch, c.stop_reason, c.still_improving) == (5, 2, "early_stop", False)
    assert c.best_val_ua == 0.5 and [r["val_ua"] for r in trainer.history] == [0.3, 0.5, 0.4, 0.45, 0.2]


def test_convergence_marks_a_fit_stopped_by_the_cap_while_improving():
    trainer = _toy_fit([0.3, 0.4, 0.5], epochs=3, patience=3)
    c = trainer.convergence
    assert (c.epochs_run, c.best_epoch, c.epoch_cap, c.stop_reason) == (3, 3, 3, "epoch_cap")
    assert c.still_improving and c.as_dict()["still_improving"] is True


def test_convergence_without_validation_is_a_fixed_schedule():
    c = _toy_fit(None, epochs=4, patience=2).convergence
    assert (c.epochs_run, c.best_epoch, c.stop_reason, c.still_improving) == (4, 4, "fixed_schedule", False)


@pytest.mark.parametrize("frames", [12, 13, 2])
def test_conv_block_is_conv_bn_relu_maxpool_in_values_and_gradients(frames):
    """The encoders' block pools before its ReLU with a reshape-and-max; PyTorch's own order and
    max_pool1d must give the same outputs and the same gradients (odd lengths floored)."""
    from torch import nn

    from benchmark.methods.logmel_net import conv_block

    torch.manual_seed(0)
    block = conv_block(6, 5, 5)
    reference = nn.Sequential(block[0], block[1], nn.ReLU(), nn.MaxPool1d(2))
    x = torch.randn(4, 6, frames)
    x[:, :, :2] = 0.0                    # ties: equal pairs after the ReLU
    grads = []
    for net in (block, reference):
        xi = x.clone().requires_grad_()
        out = net(xi)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
        grads.append((out.detach(), xi.grad, block[0].weight.grad.clone()))
        block.zero_grad()
    for new, ref in zip(grads[0], grads[1]):
        assert torch.equal(new, ref)
    assert grads[0][0].shape[-1] == frames // 2


def test_log_mel_encoder_gives_an_utterance_the_same_embedding_alone_padded_or_in_a_full_batch():
    from benchmark.methods.logmel_net import LogMelEncoder

    torch.manual_seed(0)
    encoder = LogMelEncoder(8, [4, 4], 0, 6, 0.0).eval()
    short, long_ = torch.randn(1, 20, 8), torch.randn(1, 32, 8)
    with torch.no_grad():
        alone = encoder(short, torch.tensor([20]))
        padded = torch.cat([short, torch.zeros(1, 12, 8)], dim=1)
        in_batch = encoder(torch.cat([padded, long_]), torch.tensor([20, 32]))
        full = encoder(torch.cat([long_, long_]), torch.tensor([32, 32]))   # no padding: the unmasked path
        long_alone = encoder(long_, torch.tensor([32]))
    torch.testing.assert_close(in_batch[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(in_batch[1], long_alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, long_alone.expand(2, -1), atol=1e-5, rtol=1e-5)
    # Padding that is not masked would change the short one's embedding.
    assert not torch.allclose(encoder(padded, torch.tensor([32])), alone, atol=1e-3)


def test_learning_rate_halves_after_every_lr_decay_patience_epochs_without_a_better_validation_ua():
    model = torch.nn.Linear(2, 1)
    scores = iter([0.3, 0.2, 0.2, 0.4, 0.1, 0.1, 0.1, 0.1])
    config = TrainConfig(epochs=8, patience=4, lr=1e-2, lr_decay_factor=0.5, lr_decay_patience=2, progress=False)
    trainer = Trainer("toy", config, seed=0)
    trainer.fit(model, lambda e, r: [torch.ones(3, 2)], lambda m, b, e: (m(b).pow(2).mean(), {}),
                lambda m: next(scores))
    # epochs 2-3 without a better UA (halved after 3), a best at 4, 5-6 without (halved after 6), 7-8: stop;
    # each record holds the rate its epoch trained at
    assert [r["lr"] for r in trainer.history] == [1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 5e-3, 2.5e-3, 2.5e-3]
    assert trainer.convergence.stop_reason == "early_stop" and trainer.convergence.best_epoch == 4


def test_cyclical_kl_annealing_waits_at_least_one_cycle_before_stopping():
    from benchmark.methods import METHODS

    assert METHODS.get("ssvae")(early_stopping=True, anneal_period=12, patience=10).early_stopping_patience() == 12
    assert METHODS.get("ssvae")(early_stopping=True, anneal_period=12, patience=20).early_stopping_patience() == 20
    assert METHODS.get("vae")(early_stopping=True, patience=10).early_stopping_patience() == 10


def test_cnn_oversampled_can_hold_the_same_minimum_of_steps_as_cnn():
    """An oversampled epoch raises every class to the largest's count, so it is longer than the training
    set; with ``min_epochs_unit: training_set`` the minimum counts epochs of the training set's length."""
    from baselines.cnn import CNN, CNNOversampled

    y = np.array([0] * 30 + [1] * 10 + [2] * 10 + [3] * 10)      # 60 rows, oversampled to 4 x 30 = 120
    unit = {"min_epochs_unit": "training_set"}
    oversampled = CNNOversampled(progress=False, min_epochs=20, **unit)
    rows = oversampled.epoch_indices(y, np.random.default_rng(0))
    assert len(rows) == 120 and np.bincount(y[rows]).tolist() == [30, 30, 30, 30]
    assert oversampled.min_epochs_for(y) == 12                   # 10 x 120 rows = 20 x 60, but 12 validations
    assert CNNOversampled(progress=False, min_epochs=20, min_validations=1, **unit).min_epochs_for(y) == 10
    assert CNNOversampled(progress=False, min_epochs=7, min_validations=1, **unit).min_epochs_for(y) == 4  # rounded up
    assert CNNOversampled(progress=False, **unit).min_epochs_for(np.array([0, 1, 2, 3])) == 20   # balanced
    assert CNNOversampled(progress=False, min_epochs=20).min_epochs_for(y) == 20   # the default: oversampled epochs
    assert CNN(progress=False, min_epochs=20).min_epochs_for(y) == 20
