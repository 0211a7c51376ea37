"""Mel-cepstral distortion (MCD) between synthesized speech and its ground-truth recording.

MCD is not one number but a family: published toolkits differ in the
cepstrum (WORLD spectral envelope -> ``pysptk.sp2mc``, or SPTK ``mcep`` on
windowed frames), its order and all-pass constant, the frame shift, whether
c0 (log energy) counts, how silence is handled and how the two utterances are
aligned. A number means something only beside those settings, so every
:class:`McdResult` carries its :class:`McdSettings`, and named presets
reproduce the published definitions:

``default``
    WORLD (DIO + StoneMask F0, CheapTrick envelope) at 16 kHz, 5 ms shift,
    ``sp2mc`` order 24 with alpha 0.42, **c0 excluded** from the alignment and
    the distance (what most papers state), no silence removal, exact DTW.
``espnet``
    ESPnet's ``evaluate_mcd.py`` (egs2/TEMPLATE/asr1/pyscripts/utils): SPTK
    ``mcep`` of order 23, alpha 0.42 on Hamming-windowed 1024-point frames with
    a 256-sample shift at 16 kHz, int16-scaled samples, c0 kept, fastdtw.
``versa``
    VERSA's ``mcd_f0`` with ``dtw: true``: int16 scaling, 70 Hz FIR low cut,
    Harvest F0 (40-800 Hz), CheapTrick (1024 points), ``sp2mc`` order 39 with
    alpha 0.466, frames under -20 dB normalised power dropped, c0 kept, fastdtw.
``pymcd`` / ``pymcd_plain`` / ``pymcd_dtw_sl``
    The ``pymcd`` package (``Calculate_MCD``) in its three modes: librosa load
    at 22.05 kHz, ``pyworld.wav2world`` (DIO + StoneMask, 512-point
    CheapTrick, 5 ms), SPTK ``mcep`` order 13 with alpha 0.65 on the envelope,
    fastdtw on c1..c13 but the distance over c0..c13; ``plain`` zero-pads the
    shorter waveform and compares frame by frame, ``dtw_sl`` multiplies by the
    frame-count ratio.

DTW variants: ``exact`` is the textbook DTW (steps (1,1), (0,1), (1,0), unit
weights, Euclidean frame cost) computed by :func:`librosa.sequence.dtw`
(numba-compiled, exact; memory grows with the product of the two lengths);
``fastdtw`` is the approximate multi-resolution FastDTW (radius 1) that
ESPnet, VERSA and pymcd call, kept so that those presets reproduce their
numbers (the ``fastdtw`` package's exact path, from a numba port a hundred
times faster: :mod:`benchmark.tts.fastdtw`); ``none`` compares frames one to
one.

Many pairs: :func:`mcd_many` spreads them over processes; each distinct
reference recording is analysed once (cached by content and settings), then
each pair costs one analysis of the synthesized file and one DTW.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import AudioError, ConfigError
from benchmark.registry import Registry

# 10 / ln(10) * sqrt(2): turns a natural-log cepstral distance into dB.
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)


class McdSettings(BaseModel):
    """Every analysis setting that changes an MCD value (written beside each number)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "custom"
    sample_rate: int = 16000
    # Samples are multiplied by this before analysis. Only the small epsilon
    # floors of mcep/WORLD notice it; ESPnet and VERSA work on int16 values.
    waveform_scale: float = 1.0
    lowcut_hz: float | None = None  # VERSA: 255-tap FIR high-pass before analysis
    cepstrum: Literal["world_sp2mc", "world_mcep", "frames_mcep"] = "world_sp2mc"
    f0_method: Literal["dio", "harvest"] = "dio"  # WORLD F0 steers CheapTrick's window
    f0_floor: float = 71.0
    f0_ceil: float = 800.0
    order: int = 24  # cepstrum has order + 1 coefficients, c0..c_order
    alpha: float = 0.42  # all-pass (frequency warping) constant
    fft_size: int = 1024  # CheapTrick FFT size, or frame length for frames_mcep
    frame_shift_ms: float = 5.0
    window: Literal["hamming"] = "hamming"  # frames_mcep only (SPTK-normalised Hamming)
    mcep_eps: float = 1e-8  # added to the periodogram by mcep (etype=1)
    mcep_maxiter: int = 0  # 0 = no Newton-Raphson refinement (pymcd); ESPnet uses 30
    include_c0: bool = False  # c0 in the distance
    align_on_c0: bool = False  # c0 in the DTW frame cost
    silence: Literal["none", "power_threshold"] = "none"
    silence_threshold_db: float = -20.0  # frames below mean power + this are dropped
    dtw: Literal["exact", "fastdtw", "none"] = "exact"
    fastdtw_radius: int = 1
    # FastDTW is not symmetric: pymcd aligns (reference, synthesized), ESPnet/VERSA (synthesized, reference).
    dtw_reference_first: bool = False
    length_mode: Literal["truncate", "pad_waveform"] = "truncate"  # dtw="none" only
    length_penalty: bool = False  # pymcd dtw_sl: multiply by the frame-count ratio

    def describe(self) -> str:
        """One line a paper table can quote."""
        c0 = "c0 included" if self.include_c0 else "c0 excluded"
        return (f"MCD[{self.preset}]: {self.cepstrum} order {self.order}, alpha {self.alpha}, "
                f"{self.sample_rate} Hz, shift {self.frame_shift_ms:g} ms, {c0}, silence {self.silence}, "
                f"DTW {self.dtw}")


MCD_PRESETS: Registry[McdSettings] = Registry("MCD preset")
MCD_PRESETS.register("default")(McdSettings(preset="default"))
MCD_PRESETS.register("espnet")(McdSettings(
    preset="espnet", sample_rate=16000, waveform_scale=32768.0, cepstrum="frames_mcep", order=23,
    alpha=0.42, fft_size=1024, frame_shift_ms=16.0, mcep_eps=1e-6, mcep_maxiter=30,
    include_c0=True, align_on_c0=True, dtw="fastdtw"))
MCD_PRESETS.register("versa")(McdSettings(
    preset="versa", sample_rate=16000, waveform_scale=32767.0, lowcut_hz=70.0, cepstrum="world_sp2mc",
    f0_method="harvest", f0_floor=40.0, f0_ceil=800.0, order=39, alpha=0.466, fft_size=1024,
    frame_shift_ms=5.0, include_c0=True, align_on_c0=True, silence="power_threshold",
    silence_threshold_db=-20.0, dtw="fastdtw"))
_PYMCD = dict(sample_rate=22050, cepstrum="world_mcep", order=13, alpha=0.65, fft_size=512,
              frame_shift_ms=5.0, mcep_eps=1e-8, mcep_maxiter=0, include_c0=True, align_on_c0=False,
              dtw_reference_first=True)
MCD_PRESETS.register("pymcd")(McdSettings(preset="pymcd", dtw="fastdtw", **_PYMCD))
MCD_PRESETS.register("pymcd_plain")(McdSettings(preset="pymcd_plain", dtw="none", length_mode="pad_waveform",
                                                **_PYMCD))
MCD_PRESETS.register("pymcd_dtw_sl")(McdSettings(preset="pymcd_dtw_sl", dtw="fastdtw", length_penalty=True,
                                                 **_PYMCD))


def mcd_settings(preset: str | McdSettings = "default", **overrides: object) -> McdSettings:
    """Settings of a named preset, with ``overrides`` applied (unknown keys raise ConfigError)."""
    base = preset if isinstance(preset, McdSettings) else MCD_PRESETS.get(preset)
    if not overrides:
        return base
    try:
        return McdSettings(**{**base.model_dump(), **overrides})
    except ValidationError as exc:
        bad = ", ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad MCD setting(s) {bad}") from None


@dataclass(frozen=True)
class McdResult:
    """An MCD value in dB with the settings that produced it."""

    mcd_db: float
    n_frames_syn: int
    n_frames_ref: int
    n_pairs: int  # aligned frame pairs averaged over
    settings: McdSettings

    def to_dict(self) -> dict:
        return {"mcd_db": self.mcd_db, "n_frames_syn": self.n_frames_syn, "n_frames_ref": self.n_frames_ref,
                "n_pairs": self.n_pairs, "settings": self.settings.model_dump()}


def _pyworld():
    with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


def _pysptk():
    with warnings.catch_warnings():  # so does pysptk
        warnings.simplefilter("ignore")
        import pysptk
    return pysptk


def sp2mc(sp: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """``pysptk.sp2mc`` of a (frames, bins) power envelope, the same numbers without its per-frame cost.

    pysptk extends its vector routines to matrices through two decorators that inspect the
    function's signature on every frame (``inspect.getfullargspec`` twice): 0.3 ms per frame, more
    than the analysis. This runs the same per-frame steps (log, inverse real FFT, halved c0, SPTK
    ``freqt``) on each row directly."""
    _sptk = _pysptk()._sptk
    sp = np.ascontiguousarray(sp, dtype=np.float64)
    out = np.empty((len(sp), order + 1))
    for i in range(len(sp)):
        c = np.fft.irfft(np.log(sp[i]))
        c[0] /= 2.0
        out[i] = _sptk.freqt(c, order, alpha)
    return out


def mcep(frames: np.ndarray, order: int, alpha: float, *, maxiter: int, etype: int, eps: float,
         min_det: float, itype: int) -> np.ndarray:
    """``pysptk.mcep`` of each row of ``frames`` (SPTK's C routine called per row; same numbers, see
    :func:`sp2mc` for why), with pysptk's defaults for ``miniter`` (2) and ``threshold`` (0.001)."""
    _sptk = _pysptk()._sptk
    frames = np.ascontiguousarray(frames, dtype=np.float64)
    out = np.empty((len(frames), order + 1))
    for i in range(len(frames)):
        out[i] = _sptk.mcep(frames[i], order, alpha, 2, maxiter, 0.001, etype, eps, min_det, itype)
    return out


def load_wave(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float64 samples at ``sample_rate``.

    Decodes like ``librosa.load`` (soundfile float32, channel mean, soxr_hq
    resampling), which is what ``pymcd`` calls, so the pymcd presets see the
    same samples; unlike librosa.load it never falls back to audioread/ffmpeg.
    Raises :class:`AudioError` naming the file.
    """
    import librosa
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(str(path), "missing audio file")
    try:
        wave, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several error types for broken files
        raise AudioError(str(path), f"unreadable audio ({exc})") from exc
    if wave.size == 0:
        raise AudioError(str(path), "empty audio")
    wave = wave.mean(axis=1) if wave.shape[1] > 1 else wave[:, 0]
    if sr != sample_rate:
        wave = librosa.resample(wave, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return wave.astype(np.float64)


def _lowcut(wave: np.ndarray, fs: int, cutoff: float) -> np.ndarray:
    from scipy.signal import firwin, lfilter

    taps = firwin(255, cutoff / (fs // 2), pass_zero=False)
    return lfilter(taps, 1, wave)


def _world_envelope(wave: np.ndarray, s: McdSettings) -> np.ndarray:
    pw = _pyworld()
    if s.f0_method == "dio":
        f0, t = pw.dio(wave, s.sample_rate, f0_floor=s.f0_floor, f0_ceil=s.f0_ceil, frame_period=s.frame_shift_ms)
        f0 = pw.stonemask(wave, f0, t, s.sample_rate)
    else:
        f0, t = pw.harvest(wave, s.sample_rate, f0_floor=s.f0_floor, f0_ceil=s.f0_ceil,
                           frame_period=s.frame_shift_ms)
    return pw.cheaptrick(wave, f0, t, s.sample_rate, fft_size=s.fft_size)


def _envelope_power_db(sp: np.ndarray) -> np.ndarray:
    """Per-frame power of a one-sided power spectrum, in dB relative to the utterance mean (VERSA's npow)."""
    power = (sp[:, 0] + sp[:, -1] + 2.0 * sp[:, 1:-1].sum(axis=1)) / (2 * (sp.shape[1] - 1))
    return 10.0 * np.log10(power / power.mean())


def mel_cepstrum(wave: np.ndarray, settings: McdSettings) -> tuple[np.ndarray, np.ndarray]:
    """Mel-cepstra (frames x (order+1)) of a waveform at ``settings.sample_rate``.

    Also returns each frame's power in dB relative to the utterance mean, used
    by ``silence="power_threshold"``.
    """
    pysptk = _pysptk()
    s = settings
    x = np.asarray(wave, dtype=np.float64) * s.waveform_scale
    if s.lowcut_hz:
        x = _lowcut(x, s.sample_rate, s.lowcut_hz)
    if s.cepstrum == "frames_mcep":
        hop = int(round(s.frame_shift_ms * s.sample_rate / 1000))
        n_frames = (len(x) - s.fft_size) // hop + 1
        if n_frames < 1:
            raise ValueError(f"signal of {len(x)} samples is shorter than one {s.fft_size}-sample frame")
        idx = np.arange(s.fft_size)[None, :] + hop * np.arange(n_frames)[:, None]
        frames = x[idx] * pysptk.sptk.hamming(s.fft_size)
        cep = mcep(frames, s.order, s.alpha, maxiter=s.mcep_maxiter, eps=s.mcep_eps, etype=1, min_det=1.0e-6,
                   itype=0)
        power = np.mean(frames ** 2, axis=1) + 1e-300
        return cep, 10.0 * np.log10(power / power.mean())
    sp = _world_envelope(x, s)
    if s.cepstrum == "world_sp2mc":
        cep = sp2mc(sp, s.order, s.alpha)
    else:  # SPTK mcep on the envelope, with pymcd's arguments
        cep = mcep(sp, s.order, s.alpha, maxiter=s.mcep_maxiter, etype=1, eps=s.mcep_eps, min_det=0.0, itype=3)
    return cep, _envelope_power_db(sp)


def dtw_path(x: np.ndarray, y: np.ndarray, variant: Literal["exact", "fastdtw"] = "exact",
             radius: int = 1) -> np.ndarray:
    """Alignment path (pairs x 2 array of frame indices into ``x`` and ``y``), Euclidean frame cost."""
    if variant == "fastdtw":  # the fastdtw package's algorithm and path, compiled (benchmark.tts.fastdtw)
        from benchmark.tts.fastdtw import fastdtw_path

        return fastdtw_path(x, y, radius)
    import librosa

    _, wp = librosa.sequence.dtw(X=np.ascontiguousarray(x.T), Y=np.ascontiguousarray(y.T), metric="euclidean")
    return wp[::-1].astype(np.int64)  # librosa returns the path end -> start


def mcd_from_cepstra(syn: np.ndarray, ref: np.ndarray, settings: McdSettings | str = "default", *,
                     syn_power_db: np.ndarray | None = None, ref_power_db: np.ndarray | None = None) -> McdResult:
    """MCD between two mel-cepstrum sequences (frames x coefficients) under ``settings``.

    Frame power (dB re. the utterance mean) is needed only for silence removal.
    """
    s = mcd_settings(settings) if isinstance(settings, str) else settings
    syn, ref = np.asarray(syn, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if syn.ndim != 2 or ref.ndim != 2 or syn.shape[1] != ref.shape[1]:
        raise ValueError(f"cepstra must be 2-D with the same number of coefficients, got {syn.shape} and {ref.shape}")
    n_syn, n_ref = len(syn), len(ref)
    if s.silence == "power_threshold":
        if syn_power_db is None or ref_power_db is None:
            raise ValueError("silence='power_threshold' needs the frame power of both utterances")
        syn = syn[np.asarray(syn_power_db) > s.silence_threshold_db]
        ref = ref[np.asarray(ref_power_db) > s.silence_threshold_db]
    if len(syn) == 0 or len(ref) == 0:
        raise ValueError("no frames left to compare (silent input?)")
    if s.dtw == "none":
        n = min(len(syn), len(ref))
        path = np.stack([np.arange(n), np.arange(n)], axis=1)
    else:
        start = 0 if s.align_on_c0 else 1
        if s.dtw_reference_first:
            path = dtw_path(ref[:, start:], syn[:, start:], s.dtw, s.fastdtw_radius)[:, ::-1]
        else:
            path = dtw_path(syn[:, start:], ref[:, start:], s.dtw, s.fastdtw_radius)
    first = 0 if s.include_c0 else 1
    diff = syn[path[:, 0], first:] - ref[path[:, 1], first:]
    value = MCD_CONST * float(np.mean(np.sqrt(np.sum(diff * diff, axis=1))))
    if s.length_penalty:
        value *= max(len(syn), len(ref)) / min(len(syn), len(ref))
    return McdResult(value, n_syn, n_ref, len(path), s)


def mcd_from_waves(syn: np.ndarray, ref: np.ndarray, settings: McdSettings | str = "default") -> McdResult:
    """MCD between two waveforms already at ``settings.sample_rate``."""
    s = mcd_settings(settings) if isinstance(settings, str) else settings
    if s.dtw == "none" and s.length_mode == "pad_waveform":
        n = max(len(syn), len(ref))
        syn, ref = np.pad(syn, (0, n - len(syn))), np.pad(ref, (0, n - len(ref)))
    c_syn, p_syn = mel_cepstrum(syn, s)
    c_ref, p_ref = mel_cepstrum(ref, s)
    return mcd_from_cepstra(c_syn, c_ref, s, syn_power_db=p_syn, ref_power_db=p_ref)


@cache
def _reference_analysis_config() -> type:
    from benchmark.features.base import FeatureConfig

    class ReferenceAnalysis(FeatureConfig):
        """Cache key of a reference recording's analysis: its kind and every analysis setting."""

        settings: dict

    return ReferenceAnalysis


def cached_reference_analysis(path: str | Path, kind: str, settings: BaseModel,
                              compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` of a reference recording, cached on disk by file content and analysis settings.

    Every system of a TTS comparison is scored against the same ground-truth recordings: their
    WORLD analyses are computed once and shared (across processes too) through the feature cache.
    """
    from benchmark.features.cache import cached_for_file

    key = _reference_analysis_config()(name=f"tts_ref_{kind}", settings=settings.model_dump())
    return cached_for_file(path, key, compute)


def reference_cepstra(ref_path: str | Path, settings: McdSettings) -> np.ndarray:
    """The reference's mel-cepstra with each frame's power (dB) as a last column, cached by content."""

    def analyse() -> np.ndarray:
        cep, power = mel_cepstrum(load_wave(ref_path, settings.sample_rate), settings)
        return np.column_stack([cep, power])

    return cached_reference_analysis(ref_path, "mcd", settings, analyse)


def uses_reference_cache(settings: McdSettings) -> bool:
    """Whether the reference's analysis can be cached (not when it is zero-padded to each synthesis)."""
    return not (settings.dtw == "none" and settings.length_mode == "pad_waveform")


def mcd(syn_path: str | Path, ref_path: str | Path, settings: McdSettings | str = "default") -> McdResult:
    """MCD in dB of a synthesized file against its ground-truth recording."""
    s = mcd_settings(settings) if isinstance(settings, str) else settings
    syn = load_wave(syn_path, s.sample_rate)
    try:
        if not uses_reference_cache(s):  # the reference is padded to the synthesis
            return mcd_from_waves(syn, load_wave(ref_path, s.sample_rate), s)
        c_syn, p_syn = mel_cepstrum(syn, s)
        ref = reference_cepstra(ref_path, s)
        return mcd_from_cepstra(c_syn, ref[:, :-1], s, syn_power_db=p_syn, ref_power_db=ref[:, -1])
    except ValueError as exc:
        raise AudioError(f"{syn_path} vs {ref_path}", str(exc)) from exc


def prepare_dtw(variant: str) -> None:
    """Load (or compile) the numba DTW once in this process, so that forked workers inherit it."""
    import librosa

    x = np.zeros((4, 2))
    if variant == "fastdtw":
        from benchmark.tts.fastdtw import fastdtw_path

        fastdtw_path(x, x)
    elif variant == "exact":
        librosa.sequence.dtw(X=x.T, Y=x.T)


def distinct_references(paths: list[str]) -> list[str]:
    """One path per distinct reference content (the cache key), in first-seen order."""
    from benchmark.features.cache import file_digest

    by_content: dict[str, str] = {}
    for path in paths:
        by_content.setdefault(file_digest(path), path)
    return list(by_content.values())


def _mcd_pair(item: tuple[str, str, McdSettings]) -> McdResult:
    return mcd(*item)


def _analyse_reference(item: tuple[str, McdSettings]) -> None:
    reference_cepstra(*item)


def mcd_many(pairs: list[tuple[str | Path, str | Path]], settings: McdSettings | str = "default", *,
             jobs: int | None = 1, progress: bool = False) -> list[McdResult]:
    """MCD of every (synthesized, reference) pair, over ``jobs`` processes (0: one per core).

    The same values as :func:`mcd` pair by pair, for any ``jobs``. Each distinct reference recording
    is analysed once, before the pairs (in parallel, cached by content), so pairs that share a
    reference never analyse it twice; each pair then costs one analysis and one DTW. The first bad
    pair raises :class:`AudioError` naming it, after every pair was tried.
    """
    from benchmark.tts.parallel import Failure, map_items

    s = mcd_settings(settings) if isinstance(settings, str) else settings
    named = [(str(a), str(b)) for a, b in pairs]
    prepare_dtw(s.dtw)
    if uses_reference_cache(s):
        refs = distinct_references([ref for _, ref in named if Path(ref).is_file()])
        map_items(_analyse_reference, [(ref, s) for ref in refs], jobs=jobs, progress=progress,
                  desc="MCD references")  # a bad one fails again, by name, with its pair below
    results = map_items(_mcd_pair, [(a, b, s) for a, b in named], jobs=jobs, progress=progress, desc="MCD")
    for (a, b), value in zip(named, results):
        if isinstance(value, Failure):
            raise AudioError(f"{a} vs {b}", str(value).removeprefix(f"{a} vs {b}: "))
    return results  # type: ignore[return-value]
