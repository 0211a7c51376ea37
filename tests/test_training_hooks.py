"""The optional hooks of the shared training loop (benchmark.training.Trainer.fit) against hand-written loops.

The TTS acoustic model trains on them (a learning-rate schedule, the parameters to train, AdamW's
implementation, continuing the caller's random streams); without them a fit is what it was.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.training import TrainConfig, Trainer, TrainingError


def _net() -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


X = torch.linspace(-1, 1, 24).reshape(8, 3)
Y = X.sum(dim=1, keepdim=True) ** 2


def _batches(epoch: int, rng: np.random.Generator):
    order = rng.permutation(len(X))
    return [(X[order[i:i + 4]], Y[order[i:i + 4]]) for i in range(0, len(X), 4)]


def _step(model, batch, epoch):
    x, y = batch
    return ((model(x) - y) ** 2).mean(), {}


def _factor(step: int) -> float:
    return 1.0 / (1 + step)


def test_scheduler_and_parameter_groups_match_a_hand_written_loop():
    """Per-group learning rates times the schedule's factor at each step, clipping and AdamW as by hand."""
    lrs = (1e-2, 3e-3)
    fitted = _net()
    groups = [{"params": list(fitted[0].parameters()), "lr": lrs[0]},
              {"params": list(fitted[2].parameters()), "lr": lrs[1], "weight_decay": 0.1}]
    trainer = Trainer("toy", TrainConfig(epochs=3, lr=1.0, grad_clip=0.5, progress=False), seed=0)
    trainer.fit(fitted, _batches, _step, param_groups=groups, optimiser_options={},
                scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, _factor))

    manual = _net()
    optimiser = torch.optim.AdamW([{"params": list(manual[0].parameters()), "lr": lrs[0]},
                                   {"params": list(manual[2].parameters()), "lr": lrs[1], "weight_decay": 0.1}],
                                  lr=1.0, weight_decay=0.0)
    step, last_lrs = 0, []
    for epoch in range(1, 4):
        for batch in _batches(epoch, np.random.default_rng([0, epoch])):
            for group, lr in zip(optimiser.param_groups, lrs):
                group["lr"] = lr * _factor(step)
            loss, _ = _step(manual, batch, epoch)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(manual.parameters(), 0.5)
            optimiser.step()
            step += 1
        last_lrs.append(lrs[0] * _factor(step - 1))
    for a, b in zip(fitted.parameters(), manual.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-7)
    assert [r["lr"] for r in trainer.history] == pytest.approx(last_lrs, rel=1e-12)
    assert list(trainer.history[0]) == ["epoch", "loss", "lr"]


def test_without_hooks_a_fit_records_no_lr_and_trains_every_parameter():
    model = _net()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer("toy", TrainConfig(epochs=2, progress=False), seed=0)
    trainer.fit(model, _batches, _step)
    assert "lr" not in trainer.history[0]
    assert all(not torch.equal(a, b) for a, b in zip(model.parameters(), before))


def test_a_group_left_out_of_param_groups_is_not_trained():
    model = _net()
    frozen = [p.detach().clone() for p in model[2].parameters()]
    for p in model[2].parameters():
        p.requires_grad_(False)
    Trainer("toy", TrainConfig(epochs=2, progress=False), seed=0).fit(
        model, _batches, _step, param_groups=list(model[0].parameters()))
    assert all(torch.equal(a, b) for a, b in zip(model[2].parameters(), frozen))


def _dropout_fit(prior_seed: int, reseed: bool) -> list[torch.Tensor]:
    torch.manual_seed(prior_seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    with torch.no_grad():   # the same start whatever the prior seed: only the dropout masks may differ
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-0.5, 0.5, p.numel()).reshape(p.shape) * (i + 1))
    torch.manual_seed(prior_seed)
    Trainer("toy", TrainConfig(epochs=2, progress=False), seed=0).fit(model, _batches, _step, reseed=reseed)
    return [p.detach().clone() for p in model.parameters()]


def test_reseed_false_continues_the_callers_random_stream():
    same = [torch.equal(a, b) for a, b in zip(_dropout_fit(1, reseed=True), _dropout_fit(2, reseed=True))]
    assert all(same)   # reseeded: the prior state does not matter
    assert all(torch.equal(a, b) for a, b in zip(_dropout_fit(1, reseed=False), _dropout_fit(1, reseed=False)))
    differ = [torch.equal(a, b) for a, b in zip(_dropout_fit(1, reseed=False), _dropout_fit(2, reseed=False))]
    assert not all(differ)   # the dropout masks follow the caller's generator


def test_a_non_finite_loss_under_a_schedule_still_raises_naming_the_stage():
    model = _net()

    def step(m, batch, epoch):
        loss, logs = _step(m, batch, epoch)
        return (loss * float("inf") if epoch == 2 else loss), logs

    trainer = Trainer("tts_finetune", TrainConfig(epochs=3, progress=False), seed=0)
    with pytest.raises(TrainingError, match="method tts_finetune: loss is inf at epoch 2, step 0"):
        trainer.fit(model, _batches, step, optimiser_options={"fused": True},
                    scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, _factor))


# ----------------------------------------------------------------------------- the lean optimiser step


class _ConvNet(torch.nn.Module):
    """Channels-last convolution, batch norm (buffers) and a linear head: parameters of odd sizes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1).to(memory_format=torch.channels_last)
        self.norm = torch.nn.BatchNorm2d(3)
        self.head = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.head(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


IMAGES = torch.linspace(-2, 2, 8 * 36).reshape(8, 1, 6, 6).sin()
TARGETS = IMAGES.mean(dim=(1, 2, 3)).unsqueeze(1) * 3


def _image_batches(epoch, rng):
    order = rng.permutation(len(IMAGES))
    return [(IMAGES[order[i:i + 4]], TARGETS[order[i:i + 4]]) for i in range(0, 8, 4)]


def _image_step(model, batch, epoch):
    x, y = batch
    return ((model(x) - y) ** 2).mean(), {}


@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("grad_clip", [1e-3, 0.5, 1e6])
def test_trainer_steps_are_the_textbook_loop(grad_clip, flat):
    """Clipping on every step, on some or never (skipped where its factor is 1): per tensor the same bits,
    on flat parameters the same to float rounding (the fused kernel's tails, the norm's order) over one
    epoch; over more, batch norm and Adam's normalisation amplify rounding as any change of summation would."""
    from benchmark.training import seed_everything

    epochs = 1 if flat else 4
    config = TrainConfig(epochs=epochs, lr=0.05, weight_decay=0.01, grad_clip=grad_clip, progress=False,
                         flat_parameters=flat)
    trainer = Trainer("lean", config, seed=0)
    fitted = trainer.fit(_ConvNet(), _image_batches, _image_step)
    assert trainer.flattened == flat

    seed_everything(0)
    manual = _ConvNet()
    opt = torch.optim.AdamW(manual.parameters(), lr=0.05, weight_decay=0.01, fused=True)
    clipped = 0
    for epoch in range(1, epochs + 1):
        manual.train()
        for batch in _image_batches(epoch, np.random.default_rng([0, epoch])):
            loss, _ = _image_step(manual, batch, epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.get_total_norm([p.grad for p in manual.parameters()], foreach=True)
            clipped += bool(norm > grad_clip)
            torch.nn.utils.clip_grads_with_norm_(manual.parameters(), grad_clip, norm, foreach=True)
            opt.step()
    assert (clipped > 0) == (grad_clip < 1e6) or epochs == 1
    for (key, a), b in zip(fitted.state_dict().items(), manual.state_dict().values()):
        if flat:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(a, b), key


def _fit_images(flat: bool, model: torch.nn.Module, epochs: int = 4) -> tuple[torch.nn.Module, Trainer]:
    config = TrainConfig(epochs=epochs, lr=0.05, weight_decay=0.01, grad_clip=0.5, progress=False,
                         flat_parameters=flat)
    trainer = Trainer("flat", config, seed=0)
    return trainer.fit(model, _image_batches, _image_step), trainer


class _SpareHeadNet(_ConvNet):
    """A second head used in the epochs ``use(epoch)`` says."""

    def __init__(self, use):
        super().__init__()
        self.spare = torch.nn.Linear(3, 1)
        self.use = use

    def forward(self, x):
        h = torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3))
        return self.head(h) + (self.spare(h) if self.use(self.epoch) else 0)


def _spare_step(model, batch, epoch):
    model.epoch = epoch
    return _image_step(model, batch, epoch)


def test_flat_parameters_keep_their_layout_and_are_released():
    flat, _ = _fit_images(True, _ConvNet())
    assert flat.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert len({p.untyped_storage().data_ptr() for p in flat.parameters()}) == len(list(flat.parameters()))
    assert all(p.grad is None for p in flat.parameters())


def test_a_parameter_outside_the_loss_gets_no_update():
    """Left out from the first step: the parameters' own tensors (no AdamW decay of a zero gradient)."""
    config = TrainConfig(epochs=3, lr=0.05, weight_decay=0.01, progress=False)
    model = _SpareHeadNet(lambda epoch: False)
    untouched = model.spare.weight.detach().clone()
    trainer = Trainer("spare", config, seed=0)
    trainer.fit(model, _image_batches, _spare_step)
    assert not trainer.flattened
    assert torch.equal(model.spare.weight, untouched)
    assert not torch.equal(model.head.weight, _ConvNet().head.weight)


def test_a_loss_that_leaves_parameters_out_later_in_a_fit_is_an_error():
    config = TrainConfig(epochs=4, progress=False)
    with pytest.raises(TrainingError, match="epoch 3 leaves out parameters"):
        Trainer("narrowing", config, seed=0).fit(_SpareHeadNet(lambda epoch: epoch < 3), _image_batches,
                                                 _spare_step)
    config = TrainConfig(epochs=4, progress=False, flat_parameters=False)
    Trainer("narrowing", config, seed=0).fit(_SpareHeadNet(lambda epoch: epoch < 3), _image_batches, _spare_step)


@pytest.mark.parametrize("min_epochs,stopped_at", [(1, 3), (6, 6), (20, 12)])
def test_min_epochs_hold_early_stopping_and_the_learning_rate_decay(min_epochs, stopped_at):
    """Validation UA peaks at epoch 1: patience 2 stops at epoch 3, unless min_epochs holds the stop (and
    the plateau's decay) back; held past the cap, the fit ends at the cap with its plateau confirmed."""
    scores = iter([0.9] + [0.5] * 30)
    cfg = TrainConfig(epochs=12, lr=1e-2, patience=2, lr_decay_factor=0.5, lr_decay_patience=1,
                      min_epochs=min_epochs, progress=False)
    trainer = Trainer("toy", cfg, seed=0)
    trainer.fit(_net(), _batches, _step, validate=lambda model: next(scores))
    lrs = [h["lr"] for h in trainer.history]
    assert len(trainer.history) == stopped_at and trainer.convergence.best_epoch == 1
    assert trainer.convergence.stop_reason == "early_stop" and not trainer.convergence.still_improving
    held = min(min_epochs, stopped_at)
    assert lrs[:held] == [1e-2] * held                 # no decay while held, then one halving per stale epoch
    assert all(b == a * 0.5 for a, b in zip(lrs[held:], lrs[held + 1:]))


@pytest.mark.parametrize("decay", [0.5, 0.9])
def test_weight_average_is_the_warmed_up_moving_average_of_the_steps(decay):
    """Without validation the fit returns the moving average of the weights after every step, with the
    warm-up min(decay, (1 + t) / (10 + t)); the weights themselves are those of the same fit without it."""
    seen: list[list[torch.Tensor]] = []

    def recording_step(model, batch, epoch):
        seen.append([p.detach().clone() for p in model.parameters()])   # the weights after the last step
        return _step(model, batch, epoch)

    base = dict(epochs=3, lr=0.05, progress=False)
    raw = Trainer("raw", TrainConfig(**base), seed=0).fit(_net(), _batches, recording_step)
    after_each_step = seen[1:] + [[p.detach() for p in raw.parameters()]]
    average = [p.clone() for p in seen[0]]
    for t, weights in enumerate(after_each_step, start=1):
        d = min(decay, (1 + t) / (10 + t))
        average = [d * a + (1 - d) * w for a, w in zip(average, weights)]
    averaged = Trainer("ema", TrainConfig(**base, ema_decay=decay), seed=0).fit(_net(), _batches, _step)
    for got, want in zip(averaged.parameters(), average):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(a, b) for a, b in zip(averaged.parameters(), raw.parameters()))


def test_validation_scores_and_keeps_the_averaged_weights():
    """Each epoch's validation sees the average; the best epoch's average is what the fit returns, and
    training between validations goes on from the weights themselves (the same steps as without it)."""
    def fit(ema_decay):
        validated, stepped = [], []
        scores = iter([0.2, 0.9, 0.1, 0.1, 0.1])

        def validate(model):
            validated.append([p.detach().clone() for p in model.parameters()])
            return next(scores)

        def recording_step(model, batch, epoch):
            stepped.append([p.detach().clone() for p in model.parameters()])
            return _step(model, batch, epoch)

        cfg = TrainConfig(epochs=5, lr=0.05, patience=3, ema_decay=ema_decay, progress=False)
        trainer = Trainer("ema", cfg, seed=0)
        return trainer.fit(_net(), _batches, recording_step, validate=validate), trainer, validated, stepped

    fitted, trainer, validated, stepped = fit(0.9)
    _, _, raw_validated, raw_stepped = fit(None)
    assert trainer.convergence.best_epoch == 2 and len(validated) == 5
    for got, want in zip(fitted.parameters(), validated[1]):
        assert torch.equal(got, want)
    for averaged, raw in zip(stepped, raw_stepped):          # every step starts from the same weights
        for a, b in zip(averaged, raw):
            assert torch.equal(a, b)
    assert not any(torch.equal(a, b) for a, b in zip(validated[-1], raw_validated[-1]))
