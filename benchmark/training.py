"""The one training loop every neural method uses (SpeechBrain-recipe style: small and readable).

A method supplies three callables and the loop does the rest:

- ``batches(epoch, rng)``: the batches of epoch 1..T (the method decides
  cropping, augmentation, sampling; ``rng`` is seeded per epoch),
- ``step(model, batch, epoch)``: the loss of one batch and a dict of values to log,
- ``validate(model)``: validation UA (higher is better), or None.

The loop seeds everything, picks the device, runs Adam(W), clips gradients,
checks every loss and gradient for NaN/inf (raising :class:`TrainingError`
naming the method, epoch and step, with the last good weights restored and,
when ``checkpoint_dir`` is set, saved), shows a progress bar with the loss and
validation UA, stops early when validation UA stops improving, and returns the
model with the weights of its best validation epoch. After a fit,
``Trainer.convergence`` says how it ended (:class:`Convergence`: epochs run,
best epoch, the stop reason), which the runner logs beside the per-epoch history.

Optional hooks of :meth:`Trainer.fit` (the TTS acoustic model's training and
fine-tuning use them; without them a fit is what it always was):
``param_groups`` (the parameters or parameter groups, each group with its own
``lr``/``weight_decay``, to optimise), ``optimiser_options`` (AdamW's
implementation: ``foreach``, ``fused``), ``scheduler`` (a learning-rate schedule
stepped after every optimiser step; each epoch's record then holds the ``lr`` of
its last step) and ``reseed`` (False continues the caller's random streams, for a
stage that follows another in one model's training).
"""
from __future__ import annotations

import copy
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from benchmark.errors import EmobenchError

# The model type a fit's hooks see and it returns: fit trains and returns the module it is given.
ModelT = TypeVar("ModelT", bound=torch.nn.Module)


class TrainingError(EmobenchError):
    """Training diverged (NaN/inf loss or gradient)."""


def validation_ua(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """UA (mean recall over the classes present in ``y_true``) of integer class codes 0..n_classes-1.

    The early-stopping score of every validator: the statistics engine's UA
    (``benchmark.metrics.ser.unweighted_accuracy``) of a confusion matrix counted with one ``bincount``,
    since a fit computes it every epoch and scikit-learn's confusion matrix costs about 0.2 s of input
    validation on its first call in a process (``tests/test_training.py`` checks it against
    ``balanced_accuracy_score``)."""
    from benchmark.metrics.ser import unweighted_accuracy

    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if not len(y_true):
        return float("nan")
    cm = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return float(unweighted_accuracy(cm))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; deterministic kernels on CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_algorithms()


def deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of torch._inductor.

    The public call imports the inductor package only to set its ``deterministic`` flag, which
    matters to ``torch.compile`` alone; that import took 2.5 s of the first fit in every process
    (measured under load), longer than a whole fit of the small networks. The flag is still set
    when inductor is already imported."""
    import sys

    if not (torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()):
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    if "torch._inductor.config" in sys.modules:
        setattr(sys.modules["torch._inductor.config"], "deterministic", True)  # noqa: B010 (a module mypy types)
    # Deterministic mode also fills every new uninitialised tensor with NaN, a debugging aid that
    # changes no result (a kernel that read such memory would be a bug either way) and cost 6.5% of a
    # cnn fit (21,000 fills of 150 steps). The kernels stay the deterministic ones.
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: the GPU when one is present, else the CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def make_adamw(params: Iterable[Any], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with its fused kernel (one kernel per step for all parameters, on a CPU too), else ``foreach``.

    The small networks here have many small tensors, so the optimiser's per-tensor work is a large share
    of a step; fused, with the buffers-only copy of the last good weights, doubled the Trainer's steps
    on an MLP autoencoder (docs/performance.md)."""
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):   # a device or dtype without the fused kernel
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


StopReason = Literal["early_stop", "epoch_cap", "fixed_schedule"]


@dataclass(frozen=True)
class Convergence:
    """How one fit ended.

    ``stop_reason``: ``early_stop`` (validation UA did not improve for ``patience`` epochs),
    ``epoch_cap`` (the epoch cap came first, so early stopping never confirmed a plateau) or
    ``fixed_schedule`` (no validation set: the method trains a set number of epochs by design,
    e.g. the VAE family's 50 epochs). ``still_improving`` marks a result that is a training
    budget rather than a converged model: stopped by the cap with a validation UA that had
    improved within the last ``patience`` epochs -- by construction every ``epoch_cap`` stop.
    """

    epochs_run: int
    best_epoch: int
    epoch_cap: int
    patience: int
    stop_reason: StopReason
    best_val_ua: float | None = None

    @property
    def still_improving(self) -> bool:
        return self.stop_reason == "epoch_cap"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "still_improving": self.still_improving}


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(8, ge=1)          # epochs without a better validation UA before stopping
    # Reduce-on-plateau (with validation only): every ``lr_decay_patience`` epochs without a better validation
    # UA the learning rate is multiplied by ``lr_decay_factor`` (None: constant). A fit then ends at a small
    # learning rate, so more patience or a higher cap changes little (perf/check_convergence.py).
    lr_decay_factor: float | None = Field(None, gt=0, lt=1)
    lr_decay_patience: int = Field(2, ge=1)
    grad_clip: float | None = 5.0
    device: str = "auto"
    progress: bool = True


class Trainer:
    """Runs :meth:`fit`; ``history`` holds one dict per epoch (mean loss, logs, val UA)."""

    def __init__(self, name: str, config: TrainConfig, seed: int, checkpoint_dir: Path | None = None):
        self.name = name
        self.config = config
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.device = pick_device(config.device)
        self.history: list[dict[str, float]] = []
        self.convergence: Convergence | None = None

    def fit(self, model: ModelT, batches: Callable[[int, np.random.Generator], Iterable[Any]],
            step: Callable[[ModelT, Any, int], tuple[torch.Tensor, dict[str, float]]],
            validate: Callable[[ModelT], float] | None = None, *,
            param_groups: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]] | None = None,
            optimiser_options: dict[str, Any] | None = None,
            scheduler: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler] | None = None,
            reseed: bool = True) -> ModelT:
        """Train ``model`` and return it (best epoch's weights); the keyword hooks are optional (module docstring).

        ``param_groups``: what AdamW optimises, tensors or parameter groups with their own
        ``lr``/``weight_decay`` (default: every parameter of ``model``, at the config's). Gradients
        are checked and clipped over the parameters that require them either way.
        ``optimiser_options``: AdamW's implementation switches, fixed by the caller (default: the loop's
        choice, :func:`make_adamw`; ``{}`` is PyTorch's own default, ``{"fused": True}`` its fused kernel).
        ``scheduler``: builds a learning-rate scheduler on the optimiser (e.g. ``LambdaLR``),
        stepped after every optimiser step, so group ``g``'s learning rate at step ``k`` is its
        own ``lr`` times the schedule's factor; the epoch records gain ``lr`` (group 0's, as used
        by the epoch's last step). ``reseed`` False leaves the global random generators as the
        caller has them (the per-epoch ``rng`` is still ``[seed, epoch]``).
        """
        if reseed:
            seed_everything(self.seed)
        cfg = self.config
        model.to(self.device)
        params = model.parameters() if param_groups is None else param_groups
        optimiser = (make_adamw(params, cfg.lr, cfg.weight_decay) if optimiser_options is None else
                     torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **optimiser_options))
        schedule = scheduler(optimiser) if scheduler is not None else None
        last_lr = float(optimiser.param_groups[0]["lr"])
        best_state, best_ua, best_epoch, stale = copy.deepcopy(model.state_dict()), -np.inf, 0, 0
        # The last good weights. A failure is detected before optimiser.step(), so the parameters are still
        # those after the last good step; only the buffers (batch-norm statistics) have moved, in the failing
        # forward pass. So only the buffers are copied after each step, in place into preallocated tensors.
        buffers = dict(model.named_buffers())
        last_good_buffers = {k: v.detach().clone() for k, v in buffers.items()}
        live, saved = list(buffers.values()), list(last_good_buffers.values())
        parameters = [p for p in model.parameters() if p.requires_grad]
        # Epochs count from 1, as in the papers' schedules (e.g. KL annealing uses e = 1..T).
        bar = tqdm(range(1, cfg.epochs + 1), desc=self.name, unit="epoch", disable=not cfg.progress, leave=False)
        for epoch in bar:
            model.train()
            rng = np.random.default_rng([self.seed, epoch])
            losses: list[torch.Tensor] = []
            logs: dict[str, list[float]] = {}
            for i, batch in enumerate(batches(epoch, rng)):
                loss, step_logs = step(model, batch, epoch)
                self._check(loss, model, epoch, i, last_good_buffers)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                # One fused norm over every gradient: it is finite exactly when every gradient is.
                grads = [p.grad for p in parameters if p.grad is not None]
                norm = torch.nn.utils.get_total_norm(grads, foreach=True)
                if not torch.isfinite(norm):
                    self._check_gradients(model, epoch, i, last_good_buffers)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grads_with_norm_(parameters, cfg.grad_clip, norm, foreach=True)
                optimiser.step()
                if schedule is not None:
                    last_lr = optimiser.param_groups[0]["lr"]
                    schedule.step()
                if live:
                    torch._foreach_copy_(saved, live)
                losses.append(loss.detach())
                for k, v in step_logs.items():
                    logs.setdefault(k, []).append(v)
            # One stack per epoch instead of a float() per step; the float64 mean np.mean of the floats gave.
            loss_mean = float(np.mean(torch.stack(losses).double().numpy())) if losses else float("nan")
            record = {"epoch": epoch, "loss": loss_mean, **{k: float(np.mean(v)) for k, v in logs.items()}}
            if schedule is not None:
                record["lr"] = last_lr
            elif cfg.lr_decay_factor:
                record["lr"] = float(optimiser.param_groups[0]["lr"])   # this epoch's, before any decay below
            if validate is not None:
                model.eval()
                with torch.no_grad():
                    record["val_ua"] = float(validate(model))
                if record["val_ua"] > best_ua:
                    best_ua, best_epoch, stale = record["val_ua"], epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
                    if cfg.lr_decay_factor and stale % cfg.lr_decay_patience == 0 and stale < cfg.patience:
                        # every group (its own lr, e.g. from param_groups), from the next epoch on
                        for group in optimiser.param_groups:
                            group["lr"] *= cfg.lr_decay_factor
            self.history.append(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("loss", "val_ua")})
            if validate is not None and stale >= cfg.patience:
                break
        bar.close()
        epochs_run = len(self.history)
        if validate is not None:
            model.load_state_dict(best_state)
            reason: StopReason = "early_stop" if stale >= cfg.patience else "epoch_cap"
            self.convergence = Convergence(epochs_run, best_epoch, cfg.epochs, cfg.patience, reason, float(best_ua))
        else:
            self.convergence = Convergence(epochs_run, epochs_run, cfg.epochs, cfg.patience, "fixed_schedule")
        model.eval()
        return model

    def _check(self, loss: torch.Tensor, model: torch.nn.Module, epoch: int, step: int,
               last_good_buffers: dict) -> None:
        if not torch.isfinite(loss).all():
            self._fail(f"loss is {float(loss.detach())}", model, epoch, step, last_good_buffers)

    def _check_gradients(self, model: torch.nn.Module, epoch: int, step: int, last_good_buffers: dict) -> None:
        for name, p in model.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                self._fail(f"gradient of {name} is not finite", model, epoch, step, last_good_buffers)

    def _fail(self, what: str, model: torch.nn.Module, epoch: int, step: int, last_good_buffers: dict) -> None:
        # The parameters are those after the last good step (no update ran since); the buffers are restored.
        last_good = {**{k: v.detach().clone() for k, v in model.state_dict().items()}, **last_good_buffers}
        model.load_state_dict(last_good)
        where = ""
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            path = self.checkpoint_dir / f"{self.name}-last-good.pt"
            torch.save(last_good, path)
            where = f"; last good weights saved to {path}"
        raise TrainingError(f"method {self.name}: {what} at epoch {epoch}, step {step} "
                            f"(the model holds the last good weights{where})")
