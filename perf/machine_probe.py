"""A short fixed workload that says how fast this machine is, so suite timings from different machines compare.

    .venv/bin/python perf/machine_probe.py

The suite's wall time moved from 9.4 to 17.5 min between machines for the same code (docs/performance.md):
a 2-core cloud machine is not one speed. ``perf/bench_suite.py`` runs this probe before the suite and
records it in its JSON, so a figure can be read against the machine it came from. Three parts, each the
kind of work the suite does, each on one core and seeded: a log-mel conv net's training steps (torch), an
STFT over a batch of waveforms (NumPy FFT) and a Python loop (the per-cell bookkeeping). Each is timed as
the best of three rounds, which keeps a neighbour's burst out of the figure.
"""
from __future__ import annotations

import json
import time


def _best_of(fn, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def torch_steps(steps: int = 20) -> float:
    """Seconds for ``steps`` forward-backward-update steps of a three-block 1-D conv net at batch 128 over
    64 mel bands x 64 frames, on one thread (the default suite's ``cnn`` encoder's shape)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv1d(64, 32, 5, padding=2), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
            torch.nn.Conv1d(32, 32, 5, padding=2), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
            torch.nn.Conv1d(32, 32, 5, padding=2), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(32, 4))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.randn(128, 64, 64, generator=gen)
        y = torch.randint(0, 4, (128,), generator=gen)

        def run() -> None:
            for _ in range(steps):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x), y).backward()
                opt.step()

        run()  # warm-up: first-call allocations and kernel selection
        return _best_of(run)
    finally:
        torch.set_num_threads(threads)


def numpy_stft(waves: int = 64) -> float:
    """Seconds for a 512-point STFT (hop 160) of ``waves`` 3-second 16 kHz waveforms with NumPy's FFT."""
    import numpy as np

    signal = np.random.default_rng(0).standard_normal((waves, 48000)).astype(np.float32)
    window = np.hanning(512).astype(np.float32)

    def run() -> None:
        frames = np.lib.stride_tricks.sliding_window_view(signal, 512, axis=1)[:, ::160]
        np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2

    return _best_of(run)


def python_loop(n: int = 1_000_000) -> float:
    """Seconds for a pure-Python loop of ``n`` dictionary updates (interpreter speed)."""
    def run() -> None:
        counts: dict[int, int] = {}
        for i in range(n):
            counts[i % 97] = counts.get(i % 97, 0) + i

    return _best_of(run)


def probe() -> dict[str, float]:
    """The three timings (seconds, lower is faster) and their sum."""
    parts = {"torch_conv_steps_s": torch_steps(), "numpy_stft_s": numpy_stft(), "python_loop_s": python_loop()}
    return {**parts, "total_s": round(sum(parts.values()), 3)}


if __name__ == "__main__":
    print(json.dumps(probe(), indent=1))
