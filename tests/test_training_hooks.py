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
