"""A small ctypes binding to eSpeak NG (the library shipped in the ``espeakng_loader`` wheel).

Only what its two users need, the embedded corpus (which renders its speech with it)
and the TTS phonemizer and alignment fallback (:mod:`benchmark.tts.phonemes`): synthesize
one text with one voice and a few prosody parameters, collect the audio and the phoneme
events (symbol and start time), and transcribe the text to eSpeak phonemes. It sits
beside them, not inside the corpus, so that the TTS code does not import a corpus.

Why every synthesis runs in a forked child: eSpeak NG keeps synthesis state
between calls (wave generator phase, flutter index, echo buffer, ...), so the
same text rendered twice in one process gives slightly different audio, and
``espeak_Terminate``/``espeak_Initialize`` does not reset it. A child forked
from a process that initialised the library but never synthesised starts from
the same clean state every time, so an utterance's audio depends only on its
own inputs, whatever was rendered before it and however the work is split
across processes. A fork costs a few milliseconds. eSpeak NG also seeds its
own random generator from the clock when it starts (the Mandarin voice uses
it), so every synthesis first sets a fixed seed.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.errors import EmobenchError

# speak_lib.h constants (API revision 12).
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_END = 5
EVENT_MSG_TERMINATED = 6
EVENT_PHONEME = 7
PARAM_RATE, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 3, 4, 7
PHONEMES_IPA = 0x02  # espeak_TextToPhonemes phonememode bit: IPA instead of eSpeak mnemonics
RAND_SEED = 12345

# language (ISO 639-1, as in manifests) -> eSpeak NG voice name.
ESPEAK_VOICES: dict[str, str] = {"en": "en-us", "de": "de", "fr": "fr", "es": "es", "it": "it", "zh": "cmn"}


def espeak_voice(language: str) -> str:
    """The eSpeak NG voice of a language: the table above, else the ISO code itself."""
    return ESPEAK_VOICES.get(language, language)


class EspeakError(EmobenchError):
    """eSpeak NG could not be loaded or failed to synthesize."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Synthesis:
    """One synthesized text: int16 audio at ``sample_rate`` and its phoneme events.

    ``phoneme_starts`` are the eSpeak phoneme events as (symbol, start in
    seconds); a phoneme ends where the next one starts and the last one at
    ``len(audio) / sample_rate``. ``phonemes``/``phonemes_ipa`` are the
    clause-by-clause transcriptions of the text (clauses joined by " | ").
    """

    audio: np.ndarray
    sample_rate: int
    phoneme_starts: tuple[tuple[str, float], ...]
    phonemes: str
    phonemes_ipa: str


class Espeak:
    """The eSpeak NG library of this process, initialised once (synchronous output, phoneme events)."""

    _instance: "Espeak | None" = None
    _pid: int | None = None

    @classmethod
    def get(cls) -> "Espeak":
        """The process-wide instance (a forked worker process gets its own)."""
        if cls._instance is None or cls._pid != os.getpid():
            cls._instance = cls()
            cls._pid = os.getpid()
        return cls._instance

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise EspeakError("the embedded corpus needs the espeakng-loader package "
                              "(pip install espeakng-loader)") from exc
        lib_path, data_path = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EspeakError(f"cannot load eSpeak NG from {lib_path}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                                 INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed for data path {data_path}")
        self.version = lib.espeak_Info(None).decode()
        self._lib = lib
        self._chunks: list[bytes] = []
        self._events: list[tuple[int, int, str]] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: Any, n: int, events: Any) -> int:   # POINTER(c_short), POINTER(_Event)
        if wav and n > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            symbol = ev.id.string.decode("utf-8", "replace") if ev.type == EVENT_PHONEME else ""
            self._events.append((ev.type, ev.audio_position, symbol))
            i += 1
        return 0  # 0 = go on

    def synthesize(self, text: str, voice: str, *, rate: int, pitch: int, pitch_range: int,
                   wordgap: int = 0) -> Synthesis:
        """Render ``text`` with ``voice`` (e.g. ``"de+m3"``) in a forked child (see module docstring).

        ``rate`` is in words per minute (80-450), ``pitch`` and ``pitch_range``
        are eSpeak's 0-99 scales (50 = the voice's own), ``wordgap`` adds pauses
        between words in units of 10 ms.
        """
        if not hasattr(os, "fork"):  # pragma: no cover - Windows: same audio only per process history
            return self._synthesize_here(text, voice, rate, pitch, pitch_range, wordgap)
        clean = os.getpid() == _CLEAN_RENDERER_PID[0]
        if not clean and _clean_renderer_started():
            # Once one forked child failed here, this process's state is not trusted again.
            return render_in_clean_process(text, voice, rate, pitch, pitch_range, wordgap, "earlier failure")
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: synthesize, send the pickled result (or the error), exit without cleanup
            import faulthandler

            faulthandler.disable()  # a crash here is the parent's to report (it retries, see the fallback)
            os.close(read_fd)
            try:
                payload = pickle.dumps(("ok", self._synthesize_here(text, voice, rate, pitch, pitch_range, wordgap)))
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_fd, "wb") as out:
                out.write(struct.pack("<Q", len(payload)) + payload)
            os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as inp:  # read everything before waiting, or a full pipe deadlocks
            data = inp.read()
        _, status = os.waitpid(pid, 0)
        if len(data) < 8 or len(data) - 8 != struct.unpack("<Q", data[:8])[0]:
            if clean:
                raise EspeakError(f"eSpeak NG child died while rendering {text!r} with voice {voice!r} "
                                  f"(wait status {status})")
            return render_in_clean_process(text, voice, rate, pitch, pitch_range, wordgap, f"wait status {status}")
        kind, value = pickle.loads(data[8:])
        if kind == "ok" and not clean and text.strip() and not (len(value.audio) and value.phoneme_starts):
            # The same broken state also shows as a child that "succeeds" with no audio or no phonemes.
            return render_in_clean_process(text, voice, rate, pitch, pitch_range, wordgap, "empty synthesis")
        if kind != "ok":
            raise EspeakError(f"eSpeak NG failed on {text!r} with voice {voice!r}: {value}")
        return value

    def _synthesize_here(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
                         wordgap: int) -> Synthesis:
        lib = self._lib
        # eSpeak NG seeds its own random generator from the clock at initialisation (used e.g. by the
        # Mandarin voice); a fixed seed per synthesis makes the audio independent of when a process started.
        lib.espeak_ng_SetRandSeed(RAND_SEED)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"eSpeak NG has no voice {voice!r}")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range),
                             (PARAM_WORDGAP, wordgap)):
            lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        err = lib.espeak_Synth(buf, len(buf), 0, 0, 0, CHARS_UTF8, None, None)
        if err != 0:
            raise EspeakError(f"espeak_Synth returned error {err}")
        audio = np.frombuffer(b"".join(self._chunks), dtype="<i2").copy()
        starts = tuple((sym, pos / 1000.0) for kind, pos, sym in self._events if kind == EVENT_PHONEME)
        return Synthesis(audio, self.sample_rate, starts, self.phonemize(text), self.phonemize(text, ipa=True))

    def phonemize(self, text: str, ipa: bool = False) -> str:
        """The eSpeak transcription of ``text`` with the current voice, clauses joined by " | "."""
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        clauses = []
        while ptr.value:  # espeak_TextToPhonemes consumes one clause per call and advances ptr
            out = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, PHONEMES_IPA if ipa else 0)
            if out:
                clauses.append(out.decode("utf-8", "replace").strip())
        return " | ".join(c for c in clauses if c)


def espeak_version() -> str:
    """The eSpeak NG version string (part of the corpus cache key: other versions render other audio)."""
    return Espeak.get().version


# ----------------------------------------------------------------------------- fallback

# A child forked from a process that has since loaded thread-heavy native libraries (seen after
# CTranslate2/Whisper ran in the same pytest process) can die with SIGSEGV inside the library, or
# return no audio or no phoneme events. Then that utterance and every later one of this process is
# rendered by a freshly SPAWNED process that only initialised eSpeak and forks its own children:
# the same clean state, so the same audio, whatever the caller loaded.
_CLEAN_RENDERER: list = []          # [(owner pid, ProcessPoolExecutor)] once started
_CLEAN_RENDERER_PID: list[int] = [-1]


def _clean_renderer_started() -> bool:
    # A forked copy of this process inherits the list but cannot use its parent's pool.
    return bool(_CLEAN_RENDERER) and _CLEAN_RENDERER[0][0] == os.getpid()


def _mark_clean_renderer() -> None:
    _CLEAN_RENDERER_PID[0] = os.getpid()


def _render(text: str, voice: str, rate: int, pitch: int, pitch_range: int, wordgap: int) -> Synthesis:
    return Espeak.get().synthesize(text, voice, rate=rate, pitch=pitch, pitch_range=pitch_range, wordgap=wordgap)


def render_in_clean_process(text: str, voice: str, rate: int, pitch: int, pitch_range: int, wordgap: int,
                            why: str) -> Synthesis:
    """Render in the spawned clean renderer (started on first use, reused afterwards)."""
    import logging
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if not _clean_renderer_started():
        logging.getLogger(__name__).warning(
            "eSpeak NG child failed (%s) rendering %r; this process's native state breaks forked synthesis, "
            "so rendering continues in a clean spawned process", why, text)
        _CLEAN_RENDERER[:] = [(os.getpid(), ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_mark_clean_renderer))]
    return _CLEAN_RENDERER[0][1].submit(_render, text, voice, rate, pitch, pitch_range, wordgap).result()
