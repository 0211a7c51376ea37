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

import contextlib
import copy
import math
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


class FlatParameters:
    """A model's trainable parameters as views of one flat tensor, and their gradients as views of another.

    A small network's step is mostly per-tensor overhead: zeroing, norming and clipping each gradient, and
    AdamW's Python bookkeeping around its kernel (an MLP autoencoder's step spent 45% of its 830 us there).
    Over one flat tensor each of these is one kernel, and :meth:`adamw_step` calls AdamW's fused kernel
    directly: a dae fit took 0.89 s instead of 1.39 s with the same gradients kept per tensor
    (docs/performance.md). The update is AdamW's to float rounding, not bit for bit: the fused kernel
    handles the last elements of a tensor that do not fill a vector register with scalar code, whose
    rounding differs (up to 1 ulp) from its vector code, and in one flat tensor only the last parameter's
    end is such a tail; the norm, too, is summed in another order (``tests/test_training_hooks.py``
    checks both against the textbook loop). The views keep each parameter's strides (a channels-last
    weight stays channels-last); :meth:`release` gives every parameter its own storage again after a fit.

    Gradients accumulate in place into the preset views, so a parameter the loss does not reach gets a zero
    gradient (and AdamW's decay) rather than none: the Trainer checks that the first step of every epoch
    reaches every parameter (:func:`reached_parameters`).
    """

    def __init__(self, parameters: list[torch.nn.Parameter]):
        if not self.eligible(parameters):
            raise ValueError("FlatParameters needs dense floating-point parameters of one dtype and device")
        self.parameters = parameters
        first = parameters[0]
        total = sum(p.numel() for p in parameters)
        self.param = torch.nn.Parameter(torch.empty(total, dtype=first.dtype, device=first.device))
        self.grad = torch.zeros_like(self.param)
        self.param.grad = self.grad
        offset = 0
        with torch.no_grad():
            for p in parameters:
                view = self.param.data.as_strided(p.size(), p.stride(), offset)
                view.copy_(p.data)
                p.data = view
                p.grad = self.grad.as_strided(p.size(), p.stride(), offset)
                offset += p.numel()

    @staticmethod
    def eligible(parameters: list[torch.nn.Parameter]) -> bool:
        """Dense, non-overlapping floating-point tensors of one dtype and device (what the flat views need)."""
        if not parameters:
            return False
        first = parameters[0]
        return all(p.dtype == first.dtype and p.device == first.device and p.is_floating_point()
                   and p.layout == torch.strided and _dense(p) for p in parameters)

    def zero_grad(self) -> None:
        self.grad.zero_()

    def clip_(self, max_norm: float, norm: torch.Tensor) -> None:
        """``clip_grads_with_norm_``: every gradient times ``min(max_norm / (norm + 1e-6), 1)``, in one kernel."""
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))

    def adamw_step(self, optimiser: torch.optim.Optimizer) -> None:
        """``optimiser.step()`` of a fused AdamW over :attr:`param`, without its per-call Python bookkeeping.

        The first call goes through ``optimiser.step()``, which creates the state; later calls run what it
        would: the step count, then ``torch._fused_adamw_`` with the group's current hyperparameters (so a
        learning-rate decay or schedule applies as before)."""
        state = optimiser.state.get(self.param)
        group = optimiser.param_groups[0]
        if not state or not group.get("fused"):
            optimiser.step()
            return
        beta1, beta2 = group["betas"]
        state["step"].add_(1)
        torch._fused_adamw_([self.param], [self.grad], [state["exp_avg"]], [state["exp_avg_sq"]],
                            [state["max_exp_avg_sq"]] if group["amsgrad"] else [], [state["step"]],
                            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                            eps=group["eps"], amsgrad=group["amsgrad"], maximize=group["maximize"])

    def release(self) -> None:
        """Give every parameter its own storage again and drop the gradients (the model as it was built)."""
        with torch.no_grad():
            for p in self.parameters:
                p.data = p.data.clone()
                p.grad = None


class _WeightAverage:
    """An exponential moving average of some parameters, updated in one ``foreach`` kernel per step."""

    def __init__(self, parameters: list[torch.nn.Parameter], decay: float):
        self.parameters, self.decay, self.steps = parameters, decay, 0
        self.average = [p.detach().clone() for p in parameters]

    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.parameters], 1.0 - decay)

    @contextlib.contextmanager
    def swapped(self):
        """The model holds the average inside the block, its own weights again after it."""
        own = [p.detach().clone() for p in self.parameters]
        self.copy_to_model()
        try:
            yield
        finally:
            torch._foreach_copy_([p.detach() for p in self.parameters], own)

    def copy_to_model(self) -> None:
        torch._foreach_copy_([p.detach() for p in self.parameters], self.average)


def _dense(t: torch.Tensor) -> bool:
    """Its elements fill exactly ``numel`` consecutive slots in some dimension order (any memory format)."""
    expected = 1
    for d in sorted(range(t.dim()), key=t.stride):
        if t.size(d) != 1 and t.stride(d) != expected:
            return False
        expected *= t.size(d)
    return True


def reached_parameters(loss: torch.Tensor) -> set[int]:
    """``id``s of the leaf tensors whose gradients ``loss.backward()`` would accumulate (a walk of its graph)."""
    seen, reached, stack = set(), set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)   # an AccumulateGrad node holds its leaf
        if variable is not None:
            reached.add(id(variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return reached


def _clip_coefficient(max_norm: float, norm: float, dtype: torch.dtype) -> float:
    """``max_norm / (norm + 1e-6)`` as ``clip_grads_with_norm_`` computes it, in the norm's dtype (0 for a
    dtype NumPy does not share, so that such gradients are always clipped)."""
    kind: Any = {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
    return float(kind(max_norm) / (kind(norm) + kind(1e-6))) if kind is not None else 0.0


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
    # Neither early stopping nor the learning-rate decay acts before this epoch: on a validation set of a few
    # speakers an early lucky epoch otherwise ends some fits before they learn a minority class.
    min_epochs: int = Field(1, ge=1)
    # Reduce-on-plateau (with validation only): every ``lr_decay_patience`` epochs without a better validation
    # UA the learning rate is multiplied by ``lr_decay_factor`` (None: constant). A fit then ends at a small
    # learning rate, so more patience or a higher cap changes little (perf/check_convergence.py).
    lr_decay_factor: float | None = Field(None, gt=0, lt=1)
    lr_decay_patience: int = Field(2, ge=1)
    grad_clip: float | None = 5.0
    device: str = "auto"
    progress: bool = True
    # One flat parameter and gradient tensor (FlatParameters): AdamW's update to float rounding, fewer kernels.
    flat_parameters: bool = True
    # Validate, keep and return an exponential moving average of the weights (Polyak averaging) with this
    # decay per optimiser step (None: the weights themselves); warmed up as min(decay, (1 + t) / (10 + t)).
    ema_decay: float | None = Field(None, gt=0, lt=1)


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
        self._flat: FlatParameters | None = None
        self.flattened = False      # whether the last fit trained on FlatParameters

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
        parameters = [p for p in model.parameters() if p.requires_grad]
        # Flat for the loop's own AdamW over every parameter; a caller that picks the parameters or AdamW's
        # implementation (the TTS acoustic model's stages) trains per tensor, with exactly its former numbers.
        flat = None
        if (cfg.flat_parameters and param_groups is None and optimiser_options is None
                and FlatParameters.eligible(parameters)):
            flat = FlatParameters(parameters)

        def build_optimiser(params: Iterable[Any]) -> torch.optim.AdamW:
            return (make_adamw(params, cfg.lr, cfg.weight_decay) if optimiser_options is None else
                    torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **optimiser_options))

        optimiser = build_optimiser([flat.param] if flat is not None else
                                    model.parameters() if param_groups is None else param_groups)
        schedule = scheduler(optimiser) if scheduler is not None else None
        last_lr = float(optimiser.param_groups[0]["lr"])
        best_state, best_ua, best_epoch, stale = copy.deepcopy(model.state_dict()), -np.inf, 0, 0
        # The last good weights. A failure is detected before optimiser.step(), so the parameters are still
        # those after the last good step; only the buffers (batch-norm statistics) have moved, in the failing
        # forward pass. So only the buffers are copied after each step, in place into preallocated tensors.
        buffers = dict(model.named_buffers())
        last_good_buffers = {k: v.detach().clone() for k, v in buffers.items()}
        live, saved = list(buffers.values()), list(last_good_buffers.values())
        ema = _WeightAverage(parameters, cfg.ema_decay) if cfg.ema_decay else None
        self._flat = flat
        everything = {id(p) for p in parameters}
        # Epochs count from 1, as in the papers' schedules (e.g. KL annealing uses e = 1..T).
        bar = tqdm(range(1, cfg.epochs + 1), desc=self.name, unit="epoch", disable=not cfg.progress, leave=False)
        for epoch in bar:
            model.train()
            rng = np.random.default_rng([self.seed, epoch])
            losses: list[torch.Tensor] = []
            logs: dict[str, list[float]] = {}
            for i, batch in enumerate(batches(epoch, rng)):
                loss, step_logs = step(model, batch, epoch)
                if flat is not None and i == 0 and reached_parameters(loss) != everything:
                    # A parameter outside the loss would get a zero gradient, and AdamW's update, instead of
                    # none: from the first step, train tensor by tensor; later, the graph changed mid-fit.
                    if epoch > 1:
                        flat.release()
                        raise TrainingError(f"method {self.name}: the loss of epoch {epoch} leaves out "
                                            "parameters that earlier epochs trained; train it with "
                                            "TrainConfig(flat_parameters=False)")
                    flat.release()
                    flat = self._flat = None
                    optimiser = build_optimiser(model.parameters())
                    schedule = scheduler(optimiser) if scheduler is not None else None
                if flat is not None:
                    flat.zero_grad()
                else:
                    optimiser.zero_grad(set_to_none=True)
                loss.backward()
                # One norm over every gradient (the flat gradient's, or a fused one over the tensors), finite
                # exactly when every gradient is; one check of loss and norm together (a sum is finite only
                # if both are), then which one failed.
                if flat is not None:
                    norm = torch.linalg.vector_norm(flat.grad)
                else:
                    norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None],
                                                         foreach=True)
                norm_value = norm.item()
                if not math.isfinite(loss.detach().sum().item() + norm_value):
                    self._check(loss, model, epoch, i, last_good_buffers)
                    self._check_gradients(model, epoch, i, last_good_buffers)
                # Clipping multiplies by min(grad_clip / (norm + 1e-6), 1), in the norm's precision: where that
                # is 1 it changes no bit, so it is skipped.
                if cfg.grad_clip and _clip_coefficient(cfg.grad_clip, norm_value, norm.dtype) < 1.0:
                    if flat is not None:
                        flat.clip_(cfg.grad_clip, norm)
                    else:
                        torch.nn.utils.clip_grads_with_norm_(parameters, cfg.grad_clip, norm, foreach=True)
                if flat is not None:
                    flat.adamw_step(optimiser)
                else:
                    optimiser.step()
                if schedule is not None:
                    last_lr = optimiser.param_groups[0]["lr"]
                    schedule.step()
                if live:
                    torch._foreach_copy_(saved, live)
                if ema is not None:
                    ema.update()
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
                with torch.no_grad(), (ema.swapped() if ema is not None else contextlib.nullcontext()):
                    record["val_ua"] = float(validate(model))
                    if record["val_ua"] > best_ua:
                        best_ua, best_epoch, stale = record["val_ua"], epoch, 0
                        best_state = copy.deepcopy(model.state_dict())
                if best_epoch != epoch:
                    stale += 1
                    if (cfg.lr_decay_factor and epoch >= cfg.min_epochs and stale % cfg.lr_decay_patience == 0
                            and stale < cfg.patience):
                        # every group (its own lr, e.g. from param_groups), from the next epoch on
                        for group in optimiser.param_groups:
                            group["lr"] *= cfg.lr_decay_factor
            self.history.append(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("loss", "val_ua")})
            if validate is not None and stale >= cfg.patience and epoch >= cfg.min_epochs:
                break
        bar.close()
        epochs_run = len(self.history)
        self.flattened = flat is not None
        if validate is not None:
            model.load_state_dict(best_state)
        elif ema is not None:
            ema.copy_to_model()
        if flat is not None:
            flat.release()
        if validate is not None:
            # A plateau confirmed by the end counts as early_stop, also when min_epochs held the fit to its cap.
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
        if self._flat is not None:
            self._flat.release()
        where = ""
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            path = self.checkpoint_dir / f"{self.name}-last-good.pt"
            torch.save(last_good, path)
            where = f"; last good weights saved to {path}"
        raise TrainingError(f"method {self.name}: {what} at epoch {epoch}, step {step} "
                            f"(the model holds the last good weights{where})")
