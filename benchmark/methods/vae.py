"""The VAE family: DAE, VAE, VAE with KL annealing, semi-supervised VAE (MLP backbone).

Source: S. Das, N. N. Lønfeldt, A. K. Pagsberg, L. H. Clemmensen, "Towards
Transferable Speech Emotion Representation: On loss functions for
cross-lingual latent representations", ICASSP 2022, arXiv 2203.14865
(details in ``../shared/METHODS.md``).

Registered names (all on eGeMAPSv02 functionals, ``feature="egemaps"``, 88
dims; ``feature="functionals"`` selects the suite's fast functional set):

====================  ==========================================================================
``dae``               reconstruct the clean input from a Gaussian-noised copy (MSE)
``vae``               reconstruction + ``beta`` * KL (``beta`` = 1, no annealing)
``vae_kl_annealing``  reconstruction + ``beta_e`` * KL with the paper's cyclical schedule
``ssvae``             reconstruction + ``beta_e`` * KL + ``gamma`` * L_clus on the labelled part
====================  ==========================================================================

What follows the paper:

* inputs z-scored with training statistics; training rows with any
  ``|z| > outlier_z`` (10) are removed from training. They are counted on
  ``n_outliers_`` and logged with their utt_ids; they are never dropped at
  prediction time (every test utterance gets a prediction);
* one MLP backbone for every variant, input -> hidden -> bottleneck ->
  hidden -> output (:class:`MLPAutoencoder`); a VAE's encoder emits the
  mean and log-variance of the bottleneck;
* 50 epochs, batch 64, Adam at 1e-3 (the defaults);
* the emotion classifier is a linear SVC on the latent vector (the mean for
  VAEs);
* cyclical KL annealing (:func:`kl_weight`): ``beta_e = (beta / R) * tau``
  while ``tau <= R``, else ``beta``, with ``tau = mod(e - 1, T / M) / (T /
  M)``; ``beta`` = 0.25 as in the paper, ``R = anneal_ratio``,
  ``M = anneal_cycles``; ``kl_schedule="linear"`` is the monotonic variant
  (one cycle: rise over the first ``R * T`` epochs, then hold);
* L_clus (:func:`clustering_loss`) = sum over labelled latents of the
  distance to their class centroid / sum over pairs of class centroids of
  the distance between them, computed per mini-batch.

Where the paper is silent, this module chooses (each choice is a hyperparameter):

* sizes: ``hidden=64``, ``latent_dim=32``, ReLU (32 beat 16 by 5-9 points of UA
  for DAE, SSVAE and annealed VAE on two embedded-corpus folds; not tuned further);
* DAE noise: additive Gaussian with ``noise_std=0.1`` (in z units);
* losses: reconstruction = squared error summed over input dimensions, KL
  summed over latent dimensions, both averaged over the batch (the ELBO);
* the SVC: latents are z-scored (train statistics) before a ``LinearSVC``
  with ``class_weight="balanced"`` (the paper's metric is balanced accuracy);
  ``predict_proba`` is a softmax of its decision values (argmax = the SVC's
  prediction; not calibrated);
* L_clus is computed on the latent means; a batch with fewer than two
  labelled classes contributes 0;
* ``labelled_fraction`` keeps that share of each class's training labels
  (at least one per class, seeded); the rest of the training set, and any
  ``unlabelled`` data, train the autoencoder only. The SVC is trained on the
  labelled part only;
* unlabelled data (e.g. 20% of a target corpus in the paper's transfer
  setting) is passed as ``fit(train, val, unlabelled=FeatureSet)``; every
  variant trains its autoencoder on it (labels, if present, are ignored);
  z-scoring statistics come from the labelled training set only;
* early stopping: off by default (the paper trains 50 epochs). With
  ``early_stopping=True`` and a validation set, each epoch fits a
  ``LinearSVC`` on (at most ``es_max_train``) training latents and the
  Trainer keeps the weights of the best validation UA.
* CPU threads: ``threads=1`` by default. The networks are small; on a shared
  2-core machine one torch thread trained them 5-20x faster than two
  (measured: ``dae`` 5 epochs x 2,400 utterances, 0.6 s vs 11 s, under load).
  ``threads=None`` leaves torch's own setting; on a GPU it does not matter.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Literal, NamedTuple, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn

from benchmark.errors import EmobenchError
from benchmark.methods.base import FeatureSet, HParams, Method, hold_out_speakers
from benchmark.methods.linear import (Standardizer, feature_matrix, label_codes, outlier_rows,
                                      softmax_decision, train_labels)
from benchmark.methods.sk_io import (load_arrays, load_sklearn, read_json, save_arrays, save_sklearn,
                                     write_json)

log = logging.getLogger(__name__)

Variant = Literal["dae", "vae", "ssvae"]


# ----------------------------------------------------------------------------- schedules and losses


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op CPU threads, restoring the previous number afterwards."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)



def kl_weight(epoch: int, total_epochs: int, *, schedule: Literal["none", "cyclical", "linear"] = "cyclical",
              beta: float = 0.25, ratio: float = 0.5, cycles: int = 4) -> float:
    """The KL weight ``beta_e`` of (1-based) ``epoch`` out of ``total_epochs``.

    ``cyclical``: ``tau = mod(e - 1, T / M) / (T / M)``, ``beta_e = (beta / R)
    * tau`` while ``tau <= R``, else ``beta``. ``tau`` is computed as
    ``mod((e - 1) * M, T) / T``, the same number in exact integer arithmetic.
    ``linear`` is the same with one cycle; ``none`` is the constant ``beta``.
    """
    if schedule == "none":
        return float(beta)
    if not 1 <= epoch <= total_epochs:
        raise ValueError(f"epoch {epoch} outside 1..{total_epochs}")
    m = 1 if schedule == "linear" else cycles
    tau = ((epoch - 1) * m % total_epochs) / total_epochs
    return float(beta / ratio * tau) if tau <= ratio else float(beta)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def clustering_loss(z: torch.Tensor, labels: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """L_clus = D_intra / D_inter over the labelled rows (``labels >= 0``) of ``z``.

    D_intra: sum over labelled latents of the Euclidean distance to their class
    centroid; D_inter: sum over pairs of centroids of their distance. Distances
    are ``sqrt(squared + eps)`` so that a class of one point (distance 0) does
    not make the gradient NaN. Fewer than two classes -> 0.
    """
    mask = labels >= 0
    z, y = z[mask], labels[mask]
    present = torch.unique(y)
    if len(present) < 2:
        return z.sum() * 0.0
    index = torch.searchsorted(present, y)
    members = nn.functional.one_hot(index, len(present)).to(z.dtype)          # (n, classes), one matmul
    centroids = (members.T @ z) / members.sum(dim=0)[:, None]
    d_intra = torch.sqrt(((z - centroids[index]) ** 2).sum(dim=1) + eps).sum()
    a, b = torch.triu_indices(len(present), len(present), offset=1)
    d_inter = torch.sqrt(((centroids[a] - centroids[b]) ** 2).sum(dim=1) + eps).sum()
    return d_intra / d_inter


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error summed over each example's (unmasked) elements, averaged over the batch."""
    err = (recon - target) ** 2
    if mask is not None:
        err = err * mask
    return err.flatten(1).sum(dim=1).mean()


# ----------------------------------------------------------------------------- the backbone

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class Autoencoder(nn.Module):
    """What the family's losses and latent SVC need of a backbone: ``encode`` and ``decode``."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar)``; ``logvar`` is None for a deterministic (DAE) bottleneck."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_variational(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        if logvar is None:
            raise EmobenchError(f"{type(self).__name__} was built without a variational bottleneck")
        return mu, logvar


class MLPAutoencoder(Autoencoder):
    """input -> hidden -> bottleneck -> hidden -> output; a VAE's encoder emits (mu, logvar)."""

    def __init__(self, n_in: int, hidden: int, latent: int, variational: bool, activation: str = "relu"):
        super().__init__()
        act = _ACTIVATIONS[activation]
        self.variational = variational
        self.latent = latent
        out = latent * (2 if variational else 1)   # a VAE's encoder emits mean and log-variance
        self.encoder = nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, out))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), act(), nn.Linear(hidden, n_in))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encoder(x)
        if self.variational:
            return h[:, : self.latent], h[:, self.latent:]
        return h, None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def weights(self) -> tuple[torch.Tensor, ...]:
        """The four layers' weights and biases in order (what :class:`MLPObjective` takes).

        Kept between calls: looking the eight parameters up through the modules cost 15 us of a 470-us
        step. Anything that may swap a Parameter object (``.to()``/``.float()``, which run ``_apply``, and
        loading a state dict) forgets the tuple."""
        cached = self.__dict__.get("_weights")
        if cached is None:
            layers = cast(tuple[nn.Linear, ...], (self.encoder[0], self.encoder[2], self.decoder[0], self.decoder[2]))
            cached = tuple(t for layer in layers for t in (layer.weight, layer.bias))
            self.__dict__["_weights"] = cached    # a plain attribute: not a parameter or submodule
        return cached

    def _forget_weights(self, *_: Any) -> None:
        self.__dict__.pop("_weights", None)

    def _apply(self, fn: Any, recurse: bool = True) -> "MLPAutoencoder":
        self._forget_weights()
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._forget_weights()
        super()._load_from_state_dict(*args, **kwargs)


def _activation_backward(activation: str, grad: torch.Tensor, pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The gradient through ``out = act(pre)``, by the kernels autograd uses for these activations."""
    if activation == "relu":
        return torch.ops.aten.threshold_backward(grad, out, 0)
    if activation == "tanh":
        return torch.ops.aten.tanh_backward(grad, out)
    return torch.ops.aten.elu_backward(grad, 1.0, 1, 1, False, pre)


_ACTIVATION_FUNCTIONS = {"relu": torch.relu, "tanh": torch.tanh, "elu": nn.functional.elu}


class MLPObjective(torch.autograd.Function):
    """The family's objective on the MLP backbone as one autograd node, its gradient written out.

    Why: a step of batch 64 through this 15k-parameter network is about 90% per-operation overhead, and
    autograd's graph of ~40 nodes (two MLPs, the ELBO, L_clus) was most of it. The loss is the same
    composition as :meth:`AutoencoderMethod._step` (reconstruction, ``beta`` * KL with the
    reparameterisation, ``gamma`` * :func:`clustering_loss` on the latent means; the DAE's
    reconstruction of the noised input), on the same random draws; ``tests/test_vae.py`` checks the loss
    and every gradient against autograd on that composition.

    Inputs: ``x`` (the clean batch), ``x_in`` (what the encoder sees: ``x`` or its noised copy), ``draw``
    (the reparameterisation's standard normal draw; unused by the DAE), ``labels`` (the batch's
    :class:`LabelGroups`; used with ``gamma``), the backbone's eight weights, then ``spec`` =
    (variational, latent, activation, beta, gamma).
    Outputs the loss; its parts (reconstruction, KL, L_clus) are written as floats into ``logs``, a dict
    passed after ``spec`` (one ``item()`` each, cheaper than returning them as a tensor).
    """

    @staticmethod
    def forward(ctx, x, x_in, draw, labels, w1, b1, w2, b2, w3, b3, w4, b4, spec, logs):
        variational, latent, activation, beta, gamma = spec
        act = _ACTIVATION_FUNCTIONS[activation]
        n = x.shape[0]
        a1 = torch.addmm(b1, x_in, w1.t())
        h1 = act(a1)
        e = torch.addmm(b2, h1, w2.t())
        if variational:
            mu, logvar = e[:, :latent], e[:, latent:]
            std = torch.exp(0.5 * logvar)
            noise = draw * std
            z = mu + noise
            var = std * std
        else:
            mu = z = noise = var = e
        a3 = torch.addmm(b3, z, w3.t())
        h3 = act(a3)
        r = torch.addmm(b4, h3, w4.t())
        diff = r - x
        flat_diff = diff.view(-1)
        # The parts as Python floats (each logged anyway); the gradient below does not depend on them.
        rec = torch.dot(flat_diff, flat_diff).item() / n
        logs["rec"] = loss = rec
        if variational:
            # KL = mean over rows of -0.5 * sum(1 + logvar - mu^2 - var) = 0.5 * sum(var + mu^2 - logvar) / n - 0.5 L
            kl = 0.5 * torch.sum(var + mu * mu - logvar).item() / n - 0.5 * latent
            logs["kl"], logs["beta"] = kl, beta
            loss += beta * kl
        cluster = None
        if gamma and variational:
            clus, cluster = _clustering_with_gradient(mu, labels)
            logs["clus"] = clus = float(clus)
            loss += gamma * clus
        ctx.spec = spec
        ctx.cluster = cluster
        ctx.save_for_backward(x_in, a1, h1, w2, z, a3, h3, w3, w4, diff, e, noise, var)
        return torch.scalar_tensor(loss, dtype=x.dtype, device=x.device)   # 2 us less than new_tensor

    @staticmethod
    def backward(ctx, grad_loss):
        x_in, a1, h1, w2, z, a3, h3, w3, w4, diff, e, noise, var = ctx.saved_tensors
        variational, latent, activation, beta, gamma = ctx.spec
        n, scale = diff.shape[0], float(grad_loss)    # scale: 1 from the Trainer's backward()
        g_r = diff * (2.0 / n * scale)
        g_w4, g_b4 = g_r.t() @ h3, g_r.sum(0)
        g_a3 = _activation_backward(activation, g_r @ w4, a3, h3)
        g_w3, g_b3 = g_a3.t() @ z, g_a3.sum(0)
        g_z = g_a3 @ w3
        if variational:
            kl_scale = beta / n * scale
            g_mu = torch.add(g_z, e[:, :latent], alpha=kl_scale)              # + d(beta KL)/d mu
            if ctx.cluster is not None:
                g_mu.add_(ctx.cluster, alpha=gamma * scale)
            # dz/dlogvar = 0.5 * draw * std; d(beta KL)/dlogvar = 0.5 * beta * (var - 1) / n
            g_logvar = torch.addcmul((var - 1) * (0.5 * kl_scale), g_z, noise, value=0.5)
            g_e = torch.cat([g_mu, g_logvar], dim=1)
        else:
            g_e = g_z
        g_w2, g_b2 = g_e.t() @ h1, g_e.sum(0)
        g_a1 = _activation_backward(activation, g_e @ w2, a1, h1)
        g_w1, g_b1 = g_a1.t() @ x_in, g_a1.sum(0)
        return None, None, None, None, g_w1, g_b1, g_w2, g_b2, g_w3, g_b3, g_w4, g_b4, None, None


class LabelGroups(NamedTuple):
    """What :func:`clustering_loss` needs of one batch's labels, computed once per epoch for every batch.

    ``members``: the labelled rows' one-hot classes (unlabelled rows all 0); ``labelled``: 1 or 0 per
    row; ``inverse``: 1 / each class's count (1 for an absent class); ``pairs``: the class pairs'
    difference matrix (+1 for class a, -1 for class b of each pair a < b); ``pair_weights``: 1 where
    both classes of a pair are present; ``n_present``: how many classes are present."""

    members: torch.Tensor
    labelled: torch.Tensor
    inverse: torch.Tensor
    pairs: torch.Tensor
    pair_weights: torch.Tensor
    n_present: int


def label_groups(labels: np.ndarray, starts: range, size: int, n_classes: int) -> list[LabelGroups]:
    """:class:`LabelGroups` of the batches ``labels[i:i + size]``, ``i`` in ``starts`` (``-1``: unlabelled)."""
    a, b = np.triu_indices(n_classes, k=1)
    pairs = np.zeros((len(a), n_classes), dtype=np.float32)
    pairs[np.arange(len(a)), a] = 1.0
    pairs[np.arange(len(a)), b] = -1.0
    pairs_t = torch.from_numpy(pairs)
    labelled_all = (labels >= 0).astype(np.float32)
    members_all = np.zeros((len(labels), n_classes), dtype=np.float32)
    rows = np.flatnonzero(labels >= 0)
    members_all[rows, labels[rows]] = 1.0
    groups = []
    for i in starts:
        members = members_all[i:i + size]
        counts = members.sum(axis=0)
        present = counts > 0
        groups.append(LabelGroups(torch.from_numpy(members), torch.from_numpy(labelled_all[i:i + size]),
                                  torch.from_numpy((1.0 / np.maximum(counts, 1)).astype(np.float32)), pairs_t,
                                  torch.from_numpy((present[a] & present[b]).astype(np.float32)),
                                  int(present.sum())))
    return groups


def _clustering_with_gradient(mu: torch.Tensor, groups: LabelGroups,
                              eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`clustering_loss` of ``mu`` and its gradient with respect to ``mu`` (None when the loss is 0).

    With ``M`` the labelled rows' one-hot classes, ``c = M^T mu / n`` the centroids, ``u_i`` the unit
    vector from row i's centroid to it, ``P`` the class pairs' difference matrix, ``e`` the pairs'
    centroid distances and ``D1``, ``D2`` the intra and inter sums: ``dD1/dmu = u - M (M^T u / n)``,
    ``dD2/dmu = M (P^T (P c / e) / n)`` and ``dL = (dD1 - L dD2) / D2``."""
    if groups.n_present < 2:
        return mu.new_zeros(()), None
    members, labelled, inverse = groups.members, groups.labelled, groups.inverse[:, None]
    centroids = (members.t() @ mu) * inverse
    diff = mu - members @ centroids
    dist = torch.sqrt((diff * diff).sum(dim=1) + eps)
    d_intra = dist @ labelled
    gaps = groups.pairs @ centroids
    spread = torch.sqrt((gaps * gaps).sum(dim=1) + eps)
    d_inter = spread @ groups.pair_weights
    loss = d_intra / d_inter
    units = diff * (labelled / dist)[:, None]
    g_intra = units - members @ ((members.t() @ units) * inverse)
    g_centroids = groups.pairs.t() @ (gaps * (groups.pair_weights / spread)[:, None])
    g_inter = members @ (g_centroids * inverse)
    return loss, (g_intra - loss * g_inter) / d_inter


# ----------------------------------------------------------------------------- hyperparameters


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoencoderHParams(HParams):
    """Training, bottleneck and SVC settings shared by every variant and backbone."""

    latent_dim: int = Field(32, ge=1)
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(10, ge=1, description="epochs without validation-UA gain (early_stopping only)")
    # Off for dae and vae_kl_annealing: on the convergence check's cell it cost them 2.7-2.8 UA points
    # (they stopped earlier), and they converge without it; on for the VAE and the SSVAE (VAEHParams,
    # SSVAEHParams).
    lr_decay_factor: float | None = Field(None, gt=0, lt=1, description=(
        "early_stopping only: learning rate x this after every lr_decay_patience epochs without validation-UA "
        "gain (None: constant)"))
    lr_decay_patience: int = Field(4, ge=1)
    grad_clip: float | None = 5.0
    device: str = "auto"
    progress: bool = True
    threads: int | None = Field(1, ge=1, description="torch CPU threads in fit/embed (None: leave torch's setting)")
    early_stopping: bool = False
    val_speaker_fraction: float = Field(0.15, gt=0, lt=1, description=(
        "early_stopping without a validation set: this share of the training speakers is held out"))
    es_max_train: int = Field(2000, ge=10, description="training latents the per-epoch validation SVC sees")
    svc_C: float = Field(1.0, gt=0)
    svc_class_weight: Literal["balanced"] | None = "balanced"
    svc_max_iter: int = Field(10000, ge=1)


class MLPHParams(AutoencoderHParams):
    # Any utterance-level feature; e.g. a pretrained encoder's pooled layer
    # {"name": "whisper_encoder", "layers": 1, "pooling": "mean_std"}.
    feature: str | dict[str, Any] = "egemaps"
    hidden: int = Field(64, ge=1)
    activation: Literal["relu", "tanh", "elu"] = "relu"
    outlier_z: float | None = Field(10.0, gt=0, description="drop training rows with any |z| above; None keeps all")

    @field_validator("feature")
    @classmethod
    def _vectors(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from benchmark.features.base import check_feature_kind

        return check_feature_kind(value, ("vector",))


class NoiseHParams(_Strict):
    noise_std: float = Field(0.1, ge=0, description="std of the Gaussian noise added to the DAE input (z units)")


class KLHParams(_Strict):
    kl_schedule: Literal["none", "cyclical", "linear"] = "none"
    beta: float = Field(1.0, ge=0, description="KL weight (the plateau of an annealing schedule)")
    anneal_ratio: float = Field(0.5, gt=0, le=1, description="R: share of each cycle over which beta rises")
    anneal_cycles: int = Field(4, ge=1, description="M: number of annealing cycles")
    anneal_period: int | None = Field(None, ge=1, description=(
        "epochs per annealing cycle (linear: epochs of the one rise); None: T / M, the paper's, which ties "
        "the schedule to the epoch count T -- with early stopping T is only a cap, so give a period"))


class AnnealedKLHParams(KLHParams):
    kl_schedule: Literal["none", "cyclical", "linear"] = "cyclical"
    beta: float = Field(0.25, ge=0, description="KL weight (the plateau of an annealing schedule)")


class SemiSupervisedHParams(AnnealedKLHParams):
    gamma: float = Field(1.0, ge=0, description="weight of the clustering loss L_clus")
    labelled_fraction: float = Field(1.0, gt=0, le=1, description="share of training labels used (per class)")


class DAEHParams(MLPHParams, NoiseHParams):
    pass


class VAEHParams(MLPHParams, KLHParams):
    # With early stopping: without a decay, the convergence check's cell (fold 0, seed 0) found a peak 58
    # epochs after the first fit's best, 1.2 UA points higher, and patience 20 or 30 only moved such late
    # peaks to other seeds; with it, seeds 0-2 end within 0.3 points of 3x the cap and patience, at UA
    # 0.476, 0.465, 0.454 against 0.465, 0.465, 0.454 without (docs/performance.md).
    lr_decay_factor: float | None = Field(0.5, gt=0, lt=1)


class VAEKLAnnealingHParams(MLPHParams, AnnealedKLHParams):
    pass


class SSVAEHParams(MLPHParams, SemiSupervisedHParams):
    # With early stopping: without a decay, 3x the patience found a peak 26 epochs after the first fit's
    # best, 1.4 UA points higher; with it both fits end at the same UA as the first fit had without it
    # (perf/check_convergence.py, docs/performance.md).
    lr_decay_factor: float | None = Field(0.5, gt=0, lt=1)


# ----------------------------------------------------------------------------- the shared method


class AutoencoderMethod(Method):
    """Autoencoder of some backbone + a linear SVC on its latent mean.

    Subclasses choose the backbone and how a FeatureSet becomes tensors
    (:meth:`_prepare`, :meth:`_batches`, :meth:`_encode_prepared`,
    :meth:`_build_model`); losses, training, the SVC and save/load are here.
    """

    # One of the family's HParams (noise, KL or semi-supervised fields): the objective reads the fields it has.
    hp: Any

    variant: ClassVar[Variant]

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.model_: Autoencoder | None = None
        self.svc_: Pipeline | None = None
        self.n_outliers_: dict[str, int] = {}
        self.history_: list[dict[str, Any]] = []

    # -- backbone-specific hooks
    def _prepare(self, batch: FeatureSet, *, fit: bool) -> Any:
        raise NotImplementedError

    def _n_rows(self, data: Any) -> int:
        raise NotImplementedError

    def _select(self, data: Any, rows: np.ndarray) -> Any:
        raise NotImplementedError

    def _concat(self, parts: list[Any]) -> Any:
        raise NotImplementedError

    def _batches(self, data: Any, y: np.ndarray, rng: np.random.Generator) -> Iterator[tuple]:
        """Yield ``(x, mask_or_None, y)`` tensors for one epoch over ``data``."""
        raise NotImplementedError

    def _epoch_source(self, data: Any, y: np.ndarray) -> Callable[[int, np.random.Generator], Iterator[tuple]]:
        """The Trainer's ``batches(epoch, rng)`` over ``data``; a backbone may prepare ``data`` once here."""
        return lambda epoch, rng: self._batches(data, y, rng)

    def _encode_prepared(self, data: Any) -> np.ndarray:
        raise NotImplementedError

    def _build_model(self, data: Any) -> Autoencoder:
        raise NotImplementedError

    def _norm_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_norm_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _model_args(self) -> dict[str, Any]:
        raise NotImplementedError

    def _model_from_args(self, args: dict[str, Any]) -> Autoencoder:
        raise NotImplementedError

    # -- training
    def _labelled_rows(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of the training rows whose labels are used (``labelled_fraction`` per class)."""
        frac = getattr(self.hp, "labelled_fraction", 1.0)
        if frac >= 1.0:
            return np.arange(len(y))
        keep = []
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            k = max(1, int(np.ceil(frac * len(rows))))
            keep.append(np.sort(rng.choice(rows, size=k, replace=False)))
        return np.sort(np.concatenate(keep))

    def _reconstruction(self, recon: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return reconstruction_loss(recon, x, mask)

    def _step(self, model: Autoencoder, batch: tuple, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        x, mask, y = batch[:3]
        device = next(model.parameters()).device
        x = x.to(device)
        mask = None if mask is None else mask.to(device)
        if self.variant == "dae":
            noisy = x + self.hp.noise_std * torch.randn_like(x)
            mu, _ = model.encode(noisy)
            rec = self._reconstruction(model.decode(mu), x, mask)
            return rec, {"rec": float(rec.detach())}
        mu, logvar = model.encode_variational(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = self._reconstruction(model.decode(z), x, mask)
        kl = kl_divergence(mu, logvar)
        # The Trainer counts epochs 1..T, like the paper's e.
        beta = self._kl_weight(epoch)
        loss = rec + beta * kl
        logs = {"rec": float(rec.detach()), "kl": float(kl.detach()), "beta": beta}
        if self.variant == "ssvae":
            clus = clustering_loss(mu, y.to(device))
            loss = loss + self.hp.gamma * clus
            logs["clus"] = float(clus.detach())
        return loss, logs

    def _kl_weight(self, epoch: int) -> float:
        hp = self.hp
        if hp.anneal_period is None:
            return kl_weight(epoch, hp.epochs, schedule=hp.kl_schedule, beta=hp.beta, ratio=hp.anneal_ratio,
                             cycles=hp.anneal_cycles)
        # A cycle of anneal_period epochs, whatever the cap: epoch e is epoch ((e - 1) mod P) + 1 of a
        # one-cycle schedule of P epochs; the linear schedule rises once over P epochs and then holds.
        p = hp.anneal_period
        e = ((epoch - 1) % p) + 1 if hp.kl_schedule == "cyclical" else min(epoch, p)
        return kl_weight(e, p, schedule=hp.kl_schedule, beta=hp.beta, ratio=hp.anneal_ratio, cycles=1)

    def _fit_svc(self, Z: np.ndarray, y: np.ndarray) -> Pipeline:
        svc = LinearSVC(C=self.hp.svc_C, class_weight=self.hp.svc_class_weight, max_iter=self.hp.svc_max_iter,
                        random_state=self.hp.seed)
        return Pipeline([("zscore", StandardScaler()), ("svc", svc)]).fit(Z, y)

    def fit(self, train: FeatureSet, val: FeatureSet | None = None,
            unlabelled: FeatureSet | None = None) -> "AutoencoderMethod":
        """Train the autoencoder on ``train`` (+ ``unlabelled``), then the SVC on labelled latents."""
        with torch_threads(self.hp.threads):
            return self._fit(train, val, unlabelled)

    def _fit(self, train: FeatureSet, val: FeatureSet | None, unlabelled: FeatureSet | None) -> "AutoencoderMethod":
        from benchmark.training import TrainConfig, Trainer, seed_everything

        seed_everything(self.hp.seed)
        rng = np.random.default_rng(self.hp.seed)
        if self.hp.early_stopping and (val is None or not len(val)):
            # As the log-mel networks do: a speaker-disjoint share of the training speakers for early stopping.
            rng = np.random.default_rng([self.hp.seed, 1])
            train, val = hold_out_speakers(train, self.hp.val_speaker_fraction, rng)
        classes, y_all = train_labels(train, self.name)
        self.classes_ = classes
        data = self._prepare(train, fit=True)           # also fits the normalisation, counts outliers
        keep = self._keep_rows(data, train, "train")
        data, y_all = self._select(data, keep), y_all[keep]
        labelled = self._labelled_rows(y_all, rng)
        y_ae = np.full(len(y_all), -1, dtype=np.int64)
        y_ae[labelled] = y_all[labelled]
        parts, ys = [data], [y_ae]
        if unlabelled is not None and len(unlabelled):
            extra = self._prepare(unlabelled, fit=False)
            extra = self._select(extra, self._keep_rows(extra, unlabelled, "unlabelled"))
            parts.append(extra)
            ys.append(np.full(self._n_rows(extra), -1, dtype=np.int64))
        ae_data, ae_y = self._concat(parts), np.concatenate(ys)

        model = self._build_model(data)
        validate = None
        if self.hp.early_stopping and val is not None and len(val) and val.y is not None:
            validate = self._validator(data, y_all, labelled, val, classes, rng)
        config = TrainConfig(epochs=self.hp.epochs, batch_size=self.hp.batch_size, lr=self.hp.lr,
                             weight_decay=self.hp.weight_decay, patience=self.early_stopping_patience(),
                             lr_decay_factor=self.hp.lr_decay_factor, lr_decay_patience=self.hp.lr_decay_patience,
                             grad_clip=self.hp.grad_clip, device=self.hp.device, progress=self.hp.progress)
        trainer = Trainer(self.name, config, seed=self.hp.seed)
        self.model_ = trainer.fit(model, self._epoch_source(ae_data, ae_y), self._step, validate)
        self.model_.eval()
        self.history_ = list(trainer.history)
        self.convergence_ = trainer.convergence
        Z = self._encode_prepared(self._select(data, labelled))
        self.svc_ = self._fit_svc(Z, y_all[labelled])
        return self

    def early_stopping_patience(self) -> int:
        """``patience``, but at least one whole KL annealing cycle (``anneal_period``) under cyclical annealing.

        Within a cycle the KL weight rises and validation UA dips with it, recovering at the same phase of
        the next cycle; a patience shorter than the cycle stops in that dip (measured: ``ssvae`` at patience
        10 stopped at epoch 15 with its best at 5, and 3x the patience found epoch 31, 1.4 UA points higher)."""
        period = getattr(self.hp, "anneal_period", None)
        if getattr(self.hp, "kl_schedule", "none") == "cyclical" and period:
            return max(self.hp.patience, int(period))
        return self.hp.patience

    def _keep_rows(self, data: Any, batch: FeatureSet, part: str) -> np.ndarray:
        """Rows kept for training (outliers removed); records and logs how many were dropped."""
        mask = self._outlier_mask(data)
        dropped = np.flatnonzero(mask)
        self.n_outliers_[part] = int(len(dropped))
        if len(dropped):
            ids = [batch.utt_ids[i] for i in dropped[:10]]
            log.warning("%s: removed %d of %d %s utterances with |z| > %s from training, e.g. %s",
                        self.name, len(dropped), len(mask), part, self.hp.outlier_z, ids)
        if len(dropped) == len(mask):
            raise EmobenchError(f"method {self.name}: every {part} utterance is an outlier (|z| > "
                                f"{self.hp.outlier_z}); check the features")
        return np.flatnonzero(~mask)

    def _outlier_mask(self, data: Any) -> np.ndarray:
        return np.zeros(self._n_rows(data), dtype=bool)

    def _validator(self, data: Any, y: np.ndarray, labelled: np.ndarray, val: FeatureSet, classes: list[str],
                   rng: np.random.Generator) -> Callable[[Autoencoder], float]:
        """Validation UA of an SVC on (a subsample of) training latents, for early stopping."""
        rows = labelled if len(labelled) <= self.hp.es_max_train else np.sort(
            rng.choice(labelled, self.hp.es_max_train, replace=False))
        train_part = self._select(data, rows)
        y_train = y[rows]
        val_data = self._prepare(val, fit=False)
        y_val = label_codes(val.y, classes)
        known = y_val >= 0    # a class absent from training cannot be predicted; leave it out of val UA
        val_data, y_val = self._select(val_data, np.flatnonzero(known)), y_val[known]

        from benchmark.training import validation_ua

        def validate(model: Autoencoder) -> float:
            self.model_ = model
            svc = self._fit_svc(self._encode_prepared(train_part), y_train)
            pred = svc.predict(self._encode_prepared(val_data))
            return validation_ua(y_val, pred, len(classes))

        return validate

    # -- inference
    def _check_fitted(self) -> None:
        if self.model_ is None or self.svc_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")

    def _fitted_model(self) -> Autoencoder:
        if self.model_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.model_

    def _fitted_svc(self) -> Pipeline:
        if self.svc_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.svc_

    def embed(self, batch: FeatureSet) -> np.ndarray:
        """The latent vector (the mean for VAEs), shape ``(n, latent_dim)``."""
        self._check_fitted()
        with torch_threads(self.hp.threads):
            return self._encode_prepared(self._prepare(batch, fit=False))

    def predict_proba(self, batch: FeatureSet) -> np.ndarray:
        """Softmax of the latent SVC's decision values (see the module docstring)."""
        return softmax_decision(self._fitted_svc().decision_function(self.embed(batch)))

    @torch.inference_mode()
    def _encode_tensor(self, x: torch.Tensor, chunk: int = 1024) -> np.ndarray:
        model = self._fitted_model()
        model.eval()
        device = next(model.parameters()).device
        out = [model.encode(x[i:i + chunk].to(device))[0].cpu() for i in range(0, len(x), chunk)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.hp.latent_dim))

    # -- persistence
    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "hparams.json", {"method": self.name, "hparams": self.hparams})
        write_json(path / "classes.json", self.classes_)
        write_json(path / "meta.json", {"model_args": self._model_args(), "n_outliers": self.n_outliers_})
        save_arrays(path / "normalisation.npz", **self._norm_arrays())
        state = {k: v.detach().cpu() for k, v in self._fitted_model().state_dict().items()}
        torch.save(state, path / "weights.pt")
        save_sklearn(self._fitted_svc(), path / "svc.skops")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "AutoencoderMethod":
        path = Path(path)
        meta = read_json(path / "hparams.json")
        if meta.get("method") != cls.name:
            raise EmobenchError(f"{path}: holds method {meta.get('method')!r}, not {cls.name!r}")
        method = cls(**meta["hparams"])
        method.classes_ = list(read_json(path / "classes.json"))
        extra = read_json(path / "meta.json")
        method.n_outliers_ = dict(extra.get("n_outliers", {}))
        method._set_norm_arrays(load_arrays(path / "normalisation.npz"))
        model = method._model_from_args(extra["model_args"])
        # weights_only=True: tensors only, no pickled code runs.
        model.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        model.eval()
        method.model_ = model
        method.svc_ = load_sklearn(path / "svc.skops")
        return method


class MLPAutoencoderMethod(AutoencoderMethod):
    """The paper's setting: z-scored functionals into the shared MLP backbone."""

    feature: str | dict[str, Any] = "egemaps"

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.feature = self.hp.feature  # instance-level: "egemaps" (default), "functionals", a pooled encoder layer
        self.scaler_: Standardizer | None = None

    def _prepare(self, batch: FeatureSet, *, fit: bool) -> np.ndarray:
        X = feature_matrix(batch, self.name, None if fit or self.scaler_ is None else len(self.scaler_.mean))
        if fit:
            self.scaler_ = Standardizer.fit(X)
        return self._fitted_scaler().transform(X).astype(np.float32)

    def _fitted_scaler(self) -> Standardizer:
        if self.scaler_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.scaler_

    def _outlier_mask(self, data: np.ndarray) -> np.ndarray:
        if self.hp.outlier_z is None:
            return np.zeros(len(data), dtype=bool)
        return outlier_rows(data, self.hp.outlier_z)

    def _n_rows(self, data: np.ndarray) -> int:
        return len(data)

    def _select(self, data: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return data[rows]

    def _concat(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)

    def _batches(self, data: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                 rng: np.random.Generator) -> Iterator[tuple]:
        """``(x, None, y, LabelGroups or None)`` of one epoch: one gather, then slices of it."""
        data, y = torch.as_tensor(data), torch.as_tensor(y)
        order = torch.from_numpy(rng.permutation(len(data)))
        data, y = data[order], y[order]
        size, starts = self.hp.batch_size, range(0, len(order), self.hp.batch_size)
        groups = (label_groups(y.numpy(), starts, size, len(self.classes_ or [])) if self.variant == "ssvae"
                  else [None] * len(starts))
        for i, group in zip(starts, groups):
            yield data[i:i + size], None, y[i:i + size], group

    def _epoch_source(self, data: np.ndarray, y: np.ndarray):
        data_t, y_t = torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(y)   # once per fit
        return lambda epoch, rng: self._batches(data_t, y_t, rng)

    def _encode_prepared(self, data: np.ndarray) -> np.ndarray:
        return self._encode_tensor(torch.from_numpy(np.ascontiguousarray(data)))

    def _step(self, model: Autoencoder, batch: tuple, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        """:meth:`AutoencoderMethod._step`'s objective as one :class:`MLPObjective` node (same draws)."""
        x, _, _, groups = batch
        assert isinstance(model, MLPAutoencoder)
        weights = model.weights()
        x = x.to(weights[0].device)
        if self.variant == "dae":
            x_in, draw = x + self.hp.noise_std * torch.randn_like(x), x
            beta = gamma = 0.0
        else:
            x_in, draw = x, torch.randn(x.shape[0], model.latent, dtype=x.dtype, device=x.device)
            beta, gamma = self._kl_weight(epoch), (self.hp.gamma if self.variant == "ssvae" else 0.0)
        if groups is not None and x.device.type != "cpu":
            d = x.device
            groups = LabelGroups(groups.members.to(d), groups.labelled.to(d), groups.inverse.to(d),
                                 groups.pairs.to(d), groups.pair_weights.to(d), groups.n_present)
        spec = (model.variational, model.latent, self.hp.activation, beta, gamma)
        logs: dict[str, float] = {}
        loss = MLPObjective.apply(x, x_in, draw, groups, *weights, spec, logs)
        return loss, logs

    def _model_args(self) -> dict[str, Any]:
        return {"n_in": int(len(self._fitted_scaler().mean)), "hidden": self.hp.hidden, "latent": self.hp.latent_dim,
                "variational": self.variant != "dae", "activation": self.hp.activation}

    def _build_model(self, data: np.ndarray) -> Autoencoder:
        return self._model_from_args(self._model_args())

    def _model_from_args(self, args: dict[str, Any]) -> Autoencoder:
        return MLPAutoencoder(**args)

    def _norm_arrays(self) -> dict[str, np.ndarray]:
        return self._fitted_scaler().arrays()

    def _set_norm_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.scaler_ = Standardizer(arrays["mean"], arrays["scale"])


class DAE(MLPAutoencoderMethod):
    """Denoising autoencoder: the paper's low-complexity baseline (about 52% UA on IEMOCAP 4-class)."""

    name = "dae"
    variant = "dae"
    HParams = DAEHParams
    hp: DAEHParams


class VAE(MLPAutoencoderMethod):
    """Variational autoencoder: reconstruction + beta * KL, constant beta (1)."""

    name = "vae"
    variant = "vae"
    HParams = VAEHParams
    hp: VAEHParams


class VAEKLAnnealing(MLPAutoencoderMethod):
    """VAE with the paper's cyclical KL annealing (``kl_schedule="linear"`` for monotonic)."""

    name = "vae_kl_annealing"
    variant = "vae"
    HParams = VAEKLAnnealingHParams
    hp: VAEKLAnnealingHParams


class SSVAE(MLPAutoencoderMethod):
    """Semi-supervised VAE: reconstruction + annealed KL + gamma * L_clus on the labelled part."""

    name = "ssvae"
    variant = "ssvae"
    HParams = SSVAEHParams
    hp: SSVAEHParams
