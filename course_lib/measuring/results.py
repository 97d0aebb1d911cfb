"""What a measurement gives back: :class:`Measurement` (one function's samples) and
:class:`Comparison` (two, interleaved), each printed, shown as HTML and plotted; and
:func:`format_duration`, durations in the unit that reads best.

>>> format_duration(0.00123)
'1.23 ms'
"""

from __future__ import annotations

import functools
import html
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from course_lib.measuring.stats import bootstrap_ci, percentiles, ratio_bootstrap_ci

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Comparison", "Measurement", "format_duration"]

_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


# ---------------------------------------------------------------- formatting


def _round3(x: float) -> float:
    return float(f"{x:.3g}")


def _unit(seconds: float) -> tuple[str, float]:
    """The unit in which ``seconds`` reads best, and its size in seconds."""
    magnitude = abs(_round3(seconds))
    return next(((u, s) for u, s in _UNITS if magnitude >= s), _UNITS[-1])


def _sig3(x: float) -> str:
    """``x`` with three significant digits, without scientific notation."""
    x = _round3(x)
    if x == 0:
        return "0"
    decimals = max(0, 2 - int(np.floor(np.log10(abs(x)))))
    return f"{x:.{decimals}f}"


def format_duration(seconds: float) -> str:
    """A duration in seconds as text with a readable unit and three significant digits.

    >>> format_duration(0.00123), format_duration(2.5e-7), format_duration(42)
    ('1.23 ms', '250 ns', '42.0 s')
    >>> format_duration(0.0009996)  # rounds up into the next unit
    '1.00 ms'
    """
    seconds = float(seconds)
    if not np.isfinite(seconds):
        return f"{seconds} s"
    unit, scale = _unit(seconds)
    return f"{_sig3(seconds / scale)} {unit}"


def _format_range(low: float, high: float, unit: str, scale: float) -> str:
    return f"{_sig3(low / scale)}–{_sig3(high / scale)} {unit}"


def _check_int(what: str, value: object, least: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        hint = f" {hint}" if hint else ""
        raise ValueError(f"{what} must be a whole number >= {least}{hint}; got {value!r}")
    return int(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Measurement:
    """The samples of one measured function, in seconds per call, with their summary.

    >>> m = Measurement("f", [0.003, 0.001, 0.002], number=10)
    >>> m.median, m.min, m.repeats
    (0.002, 0.001, 3)
    >>> str(m)
    'f: median 2.00 ms (95% CI 1.00–3.00 ms), min 1.00 ms, 3 samples × 10 calls'
    """

    name: str
    samples: np.ndarray  # seconds per call, one value per sample, in the order taken
    number: int = 1  # calls timed back to back in each sample

    def __post_init__(self) -> None:
        samples = np.array(self.samples, dtype=float)  # a private copy
        if samples.ndim != 1 or samples.size == 0 or not np.all(np.isfinite(samples)):
            raise ValueError("samples must be a non-empty list of finite durations in seconds")
        samples.flags.writeable = False
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "number", _check_int("number", self.number, 1))

    @property
    def repeats(self) -> int:
        """How many samples were taken."""
        return int(self.samples.size)

    @property
    def median(self) -> float:
        """Median seconds per call: the figure to report."""
        return float(np.median(self.samples))

    @property
    def min(self) -> float:
        """Fastest sample, seconds per call: the least noise, but not typical."""
        return float(self.samples.min())

    @property
    def mean(self) -> float:
        """Mean seconds per call: pulled up by slow outliers."""
        return float(self.samples.mean())

    @functools.cached_property
    def ci(self) -> tuple[float, float]:
        """Bootstrap 95% interval of the median (fixed seed: same samples, same interval)."""
        return bootstrap_ci(self.samples, np.median, confidence=0.95, seed=0)

    @functools.cached_property
    def percentiles(self) -> dict[str, float]:
        """``{"p50": ..., "p95": ..., "p99": ..., "p99.9": ...}`` of the samples, in seconds."""
        return percentiles(self.samples)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (seconds), ready for ``json.dumps``; :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "number": self.number,
            "repeats": self.repeats,
            "samples": self.samples.tolist(),
            "median": self.median,
            "min": self.min,
            "mean": self.mean,
            "ci": list(self.ci),
            "percentiles": dict(self.percentiles),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Rebuild a measurement from :meth:`to_dict` (e.g. a saved baseline)."""
        return cls(data["name"], data["samples"], number=data["number"])

    def __str__(self) -> str:
        unit, scale = _unit(self.median)
        return (
            f"{self.name}: median {format_duration(self.median)} "
            f"(95% CI {_format_range(*self.ci, unit, scale)}), min {format_duration(self.min)}, "
            f"{_plural(self.repeats, 'sample')} × {_plural(self.number, 'call')}"
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        unit, scale = _unit(self.median)
        rows = [
            ("median", format_duration(self.median)),
            ("95% CI of the median", _format_range(*self.ci, unit, scale)),
            ("min", format_duration(self.min)),
            ("mean", format_duration(self.mean)),
            *((p, format_duration(v)) for p, v in self.percentiles.items() if p != "p50"),
            ("samples × calls", f"{self.repeats} × {self.number}"),
        ]
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table><caption>{html.escape(self.name)}</caption>{body}</table>"

    def plot(self, ax: Axes | None = None) -> Axes:
        """The samples in the order taken, with the median, its 95% CI and p95 marked.

        The order shows what a histogram hides: drift, warm-up and bursts of noise.
        """
        ax = _axes(ax)
        unit, scale = _unit(self.median)
        ax.plot(np.arange(1, self.repeats + 1), self.samples / scale, "o", color="0.4", markersize=4)
        low, high = self.ci
        ax.axhspan(low / scale, high / scale, color="C0", alpha=0.25, label="95% CI of the median")
        ax.axhline(self.median / scale, color="C0", label=f"median {format_duration(self.median)}")
        p95 = self.percentiles["p95"]
        ax.axhline(p95 / scale, color="C3", linestyle="--", label=f"p95 {format_duration(p95)}")
        if self.samples.max() > 10 * self.samples.min() > 0:
            ax.set_yscale("log")
        ax.set_xlabel(f"sample (in the order taken; each is {_plural(self.number, 'call')})")
        ax.set_ylabel(f"time per call ({unit})")
        ax.set_title(f"{self.name} takes {format_duration(self.median)} per call (median)")
        ax.legend()
        return ax


@dataclass(frozen=True, eq=False)
class Comparison:
    """Two measurements from the same run; ``ratio > 1`` means the candidate is faster.

    >>> c = Comparison(Measurement("old", [4e-3, 4.1e-3, 3.9e-3]), Measurement("new", [2e-3] * 3))
    >>> c.ratio
    2.0
    >>> print(c)
    new is 2.00× faster than old (95% CI 1.95–2.05×), medians 4.00 ms vs 2.00 ms
    """

    baseline: Measurement
    candidate: Measurement

    @property
    def ratio(self) -> float:
        """median(baseline) / median(candidate): the candidate's speed-up."""
        return self.baseline.median / self.candidate.median

    @functools.cached_property
    def ratio_ci(self) -> tuple[float, float]:
        """Bootstrap 95% interval of :attr:`ratio` (fixed seed)."""
        return ratio_bootstrap_ci(self.baseline.samples, self.candidate.samples, confidence=0.95, seed=0)

    def _verdict(self) -> tuple[str, str]:
        """A headline ("new is 2.00× faster than old") and the interval behind it."""
        low, high = self.ratio_ci
        base, cand = self.baseline.name, self.candidate.name
        if low > 1:
            return f"{cand} is {_sig3(self.ratio)}× faster than {base}", f"95% CI {_sig3(low)}–{_sig3(high)}×"
        if high < 1:  # "1.25× slower", never "0.80× slower"
            return (
                f"{cand} is {_sig3(1 / self.ratio)}× slower than {base}",
                f"95% CI {_sig3(1 / high)}–{_sig3(1 / low)}×",
            )
        return (
            f"no clear difference between {cand} and {base}",
            f"speed-up {_sig3(self.ratio)}×, 95% CI {_sig3(low)}–{_sig3(high)}× includes 1",
        )

    def __str__(self) -> str:
        headline, interval = self._verdict()
        medians = f"{format_duration(self.baseline.median)} vs {format_duration(self.candidate.median)}"
        return f"{headline} ({interval}), medians {medians}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        low, high = self.ratio_ci
        rows = "".join(
            f"<tr><th>{html.escape(m.name)}</th><td>{format_duration(m.median)}</td>"
            f"<td>{_format_range(*m.ci, *_unit(m.median))}</td><td>{m.repeats} × {m.number}</td></tr>"
            for m in (self.baseline, self.candidate)
        )
        return (
            f"<table><caption>{html.escape(self._verdict()[0])}</caption>"
            "<tr><th></th><th>median</th><th>95% CI</th><th>samples × calls</th></tr>"
            f"{rows}<tr><th>speed-up</th><td>{_sig3(self.ratio)}×</td>"
            f"<td>{_sig3(low)}–{_sig3(high)}×</td><td></td></tr></table>"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Both sets of samples side by side (log scale if the medians differ by > 10×)."""
        ax = _axes(ax)
        pair = (self.baseline, self.candidate)
        unit, scale = _unit(min(m.median for m in pair))
        jitter = np.random.default_rng(0)
        for x, m in enumerate(pair):
            xs = x + jitter.uniform(-0.15, 0.15, m.repeats)
            ax.plot(xs, m.samples / scale, "o", color=f"C{x}", alpha=0.5, markersize=4)
            low, high = m.ci
            ax.errorbar(
                x + 0.3,
                m.median / scale,
                yerr=[[(m.median - low) / scale], [(high - m.median) / scale]],
                fmt="_",
                color="k",
                markersize=14,
                capsize=4,
            )
        if max(self.ratio, 1 / self.ratio) > 10:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)  # on a linear scale, bar heights from zero show the ratio honestly
        ax.set_xticks([0, 1], [m.name for m in pair])
        ax.set_xlim(-0.5, 1.6)
        ax.set_ylabel(f"time per call ({unit})")
        ax.set_xlabel("samples (dots); median with 95% CI (bars)")
        ax.set_title(self._verdict()[0])
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Both measurements and the ratio as plain numbers, ready for ``json.dumps``."""
        return {
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
            "ratio": self.ratio,
            "ratio_ci": list(self.ratio_ci),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(Measurement.from_dict(data["baseline"]), Measurement.from_dict(data["candidate"]))


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # imported here: measuring must not need matplotlib

    _, ax = plt.subplots(figsize=(6.4, 3.6))
    return ax
