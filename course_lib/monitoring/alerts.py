"""SLO alerting on a simulated timeline: static thresholds vs multi-window, multi-burn-rate.

An availability SLO of, say, 99.9% allows an error ratio of ``1 - 0.999 = 0.001`` on
average: that allowance is the **error budget**. The **burn rate** is the observed error
ratio divided by that allowance: burning at 1x for the whole SLO period spends exactly the
budget, at 14.4x a 30-day budget lasts ``30 / 14.4`` days, about 2 days.

The Site Reliability Workbook (Beyer et al., O'Reilly 2018, chapter 5 "Alerting on SLOs")
recommends paging when the burn rate over 1 hour exceeds 14.4 (2% of a 30-day budget spent
in that hour) or over 6 hours exceeds 6 (5% of the budget), each paired with a short
window (5 and 30 minutes, a twelfth of the long one) that must also exceed the rate, so
that the alert stops soon after the errors stop. :data:`SRE_WORKBOOK_PAGE_RULES` holds
those two pairs.

Everything works per minute on numpy arrays: :func:`simulate_timeline` makes a seeded
traffic timeline with incidents, :func:`window_error_ratio` computes trailing-window error
ratios (what ``rate(errors[w]) / rate(requests[w])`` gives in PromQL), the alert functions
return one boolean per minute ("firing"), and :func:`score_alert` measures detection time,
missed incidents and false alarms. :func:`prometheus_rules` writes the same rules as a
Prometheus rule file for ``promtool check rules`` and a real server.

>>> timeline = simulate_timeline(days=1, incidents=[Incident(600, 30, 0.5)], seed=1)
>>> firing = multiwindow_burn_rate_alert(timeline.requests, timeline.errors, slo=0.999)
>>> score_alert(firing, timeline).detected
[True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import yaml

__all__ = [
    "Incident",
    "Timeline",
    "BurnRateRule",
    "SRE_WORKBOOK_PAGE_RULES",
    "simulate_timeline",
    "window_error_ratio",
    "static_threshold_alert",
    "burn_rate_alert",
    "multiwindow_burn_rate_alert",
    "firing_episodes",
    "AlertScore",
    "score_alert",
    "budget_spent",
    "prometheus_rules",
]

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Incident:
    """``minutes`` minutes of an elevated error ratio, from minute ``start`` of the timeline."""

    start: int
    minutes: int
    error_ratio: float
    name: str = ""

    @property
    def end(self) -> int:
        """The first minute after the incident."""
        return self.start + self.minutes


@dataclass(frozen=True)
class Timeline:
    """Requests and errors per minute, with the incidents that were injected.

    ``incidents`` are the events an alert should catch; ``blips`` are short bursts of
    errors that cost little budget and should not page anyone.
    """

    requests: np.ndarray
    errors: np.ndarray
    incidents: tuple[Incident, ...] = ()
    blips: tuple[Incident, ...] = ()

    @property
    def minutes(self) -> int:
        return int(self.requests.size)

    @property
    def error_ratio(self) -> np.ndarray:
        """Errors / requests per minute (0 where a minute had no requests)."""
        return np.divide(self.errors, self.requests, out=np.zeros(self.minutes), where=self.requests > 0)


@dataclass(frozen=True)
class BurnRateRule:
    """Fire when the burn rate exceeds ``factor`` over both the long and the short window."""

    factor: float
    long_minutes: int
    short_minutes: int
    severity: str = "page"


#: The workbook's two paging pairs: 14.4x over 1 h (and 5 min), 6x over 6 h (and 30 min).
SRE_WORKBOOK_PAGE_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule(14.4, 60, 5, "page"),
    BurnRateRule(6.0, 360, 30, "page"),
)


def simulate_timeline(
    days: float = 30,
    *,
    requests_per_minute: float = 200,
    base_error_ratio: float = 0.0002,
    daily_swing: float = 0.5,
    incidents: Sequence[Incident] = (),
    blips: Sequence[Incident] = (),
    seed: int = 0,
) -> Timeline:
    """A seeded timeline: Poisson requests per minute with a daily cycle, binomial errors.

    Traffic follows ``requests_per_minute * (1 + daily_swing * sin(2 pi t / 1 day))``.
    Each minute's error probability is ``base_error_ratio``, or an incident's (or blip's)
    ``error_ratio`` while it lasts.
    """
    minutes = int(round(days * MINUTES_PER_DAY))
    rng = np.random.default_rng(seed)
    t = np.arange(minutes)
    expected = requests_per_minute * (1 + daily_swing * np.sin(2 * np.pi * t / MINUTES_PER_DAY))
    requests = rng.poisson(np.maximum(expected, 0))
    p = np.full(minutes, float(base_error_ratio))
    for event in (*incidents, *blips):
        if not 0 <= event.start < minutes:
            raise ValueError(f"{event} starts outside the timeline of {minutes} minutes")
        p[event.start : event.end] = event.error_ratio
    errors = rng.binomial(requests, p)
    return Timeline(requests, errors, tuple(incidents), tuple(blips))


def _trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.concatenate([[0], np.cumsum(values, dtype=float)])
    start = np.maximum(np.arange(1, values.size + 1) - window, 0)
    return cumulative[1:] - cumulative[start]


def window_error_ratio(requests: np.ndarray, errors: np.ndarray, window_minutes: int) -> np.ndarray:
    """Error ratio over the trailing ``window_minutes`` minutes (the current one included).

    At the start of the timeline the window holds the minutes there are; a window with no
    requests has ratio 0.
    """
    requests, errors = np.asarray(requests), np.asarray(errors)
    total = _trailing_sum(requests, window_minutes)
    bad = _trailing_sum(errors, window_minutes)
    return np.divide(bad, total, out=np.zeros(total.size), where=total > 0)


def static_threshold_alert(
    requests: np.ndarray, errors: np.ndarray, *, threshold: float = 0.01, window_minutes: int = 5
) -> np.ndarray:
    """Fire while the error ratio over the last ``window_minutes`` exceeds ``threshold``."""
    return window_error_ratio(requests, errors, window_minutes) > threshold


def burn_rate_alert(
    requests: np.ndarray, errors: np.ndarray, *, slo: float, factor: float, window_minutes: int
) -> np.ndarray:
    """Fire while the burn rate over one window exceeds ``factor`` (no short window)."""
    return window_error_ratio(requests, errors, window_minutes) > factor * (1 - slo)


def multiwindow_burn_rate_alert(
    requests: np.ndarray, errors: np.ndarray, *, slo: float, rules: Sequence[BurnRateRule] = SRE_WORKBOOK_PAGE_RULES
) -> np.ndarray:
    """Fire while any rule's burn rate exceeds its factor over both its long and short window."""
    budget = 1 - slo
    firing = np.zeros(np.asarray(requests).size, dtype=bool)
    for rule in rules:
        long = window_error_ratio(requests, errors, rule.long_minutes) > rule.factor * budget
        short = window_error_ratio(requests, errors, rule.short_minutes) > rule.factor * budget
        firing |= long & short
    return firing


def firing_episodes(firing: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, end)`` minutes of each uninterrupted stretch of firing."""
    padded = np.concatenate([[False], np.asarray(firing, dtype=bool), [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2])]


@dataclass(frozen=True)
class AlertScore:
    """How an alert did on a timeline.

    For each incident: whether it was detected, how long that took, and how long the alert
    went on firing after the incident ended. Episodes that belong to no incident are false
    alarms (see :func:`score_alert`).
    """

    detected: list[bool]
    detection_minutes: list[float]  #: from the incident's start to the first firing minute (NaN: missed)
    reset_minutes: list[float]  #: minutes the alert still fired after the incident ended (NaN: missed)
    false_alarms: int
    episodes: list[tuple[int, int]] = field(default_factory=list)
    minutes_firing: int = 0


def score_alert(firing: np.ndarray, timeline: Timeline, *, grace: int = 60) -> AlertScore:
    """Score ``firing`` (one boolean per minute) against ``timeline.incidents``.

    An episode belongs to an incident if it starts during the incident or within
    ``grace`` minutes after it, or if it is already firing when the incident starts.
    The first such episode is the detection; every episode that belongs to no incident
    is a false alarm.
    """
    episodes = firing_episodes(firing)
    used: set[int] = set()
    detected, detection, reset = [], [], []
    for incident in timeline.incidents:
        mine = [
            i
            for i, (a, b) in enumerate(episodes)
            if incident.start <= a < incident.end + grace or a < incident.start < b
        ]
        used.update(mine)
        detected.append(bool(mine))
        if not mine:
            detection.append(float("nan"))
            reset.append(float("nan"))
            continue
        detection.append(float(max(episodes[mine[0]][0] - incident.start, 0)))
        reset.append(float(max(episodes[mine[-1]][1] - incident.end, 0)))
    false_alarms = len(episodes) - len(used)
    return AlertScore(detected, detection, reset, false_alarms, episodes, int(np.sum(firing)))


def budget_spent(timeline: Timeline, event: Incident, *, slo: float, period_days: float = 30) -> float:
    """The share of a ``period_days`` error budget that ``event``'s extra errors used.

    The budget is ``(1 - slo)`` times the requests expected over the period (this
    timeline's mean rate); the event's cost is its errors above the base error ratio.
    """
    minutes = slice(event.start, event.end)
    mean_rate = timeline.requests.mean()
    budget = (1 - slo) * mean_rate * period_days * MINUTES_PER_DAY
    base = np.median(timeline.error_ratio)
    extra = timeline.errors[minutes].sum() - base * timeline.requests[minutes].sum()
    return float(extra / budget)


class _RulesDumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL expressions) as literal blocks, as people write them."""


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RulesDumper.add_representer(str, _str_presenter)


def _window(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def prometheus_rules(
    slo: float,
    rules: Sequence[BurnRateRule] = SRE_WORKBOOK_PAGE_RULES,
    *,
    job: str = "course-app",
    metric: str = "http_requests_total",
    error_matcher: str = 'status=~"5.."',
    static_threshold: float | None = None,
    group: str = "course-app-slo",
) -> str:
    """A Prometheus rule file (YAML) with recording rules for the error ratios and the alerts.

    One recording rule per window, named after the workbook's
    ``job:slo_errors_per_request:ratio_rate<window>``, then one alert per burn-rate rule
    (both windows over ``factor * (1 - slo)``), and, with ``static_threshold``, a static
    5-minute error-ratio alert to compare with. Check it with ``promtool check rules``.
    """
    budget = 1 - slo
    windows = sorted({m for rule in rules for m in (rule.long_minutes, rule.short_minutes)} | {5})
    selector = f'job="{job}"'
    recorded = []
    for minutes in windows:
        w = _window(minutes)
        recorded.append(
            {
                "record": f"job:slo_errors_per_request:ratio_rate{w}",
                "expr": (
                    f"sum by (job) (rate({metric}{{{selector},{error_matcher}}}[{w}]))\n"
                    f"/\nsum by (job) (rate({metric}{{{selector}}}[{w}]))"
                ),
            }
        )
    alerts = []
    for rule in rules:
        long_w, short_w = _window(rule.long_minutes), _window(rule.short_minutes)
        limit = f"({rule.factor:g} * {budget:.6g})"
        alerts.append(
            {
                "alert": f"ErrorBudgetBurn{long_w.upper()}",
                "expr": (
                    f"job:slo_errors_per_request:ratio_rate{long_w}{{{selector}}} > {limit}\n"
                    f"and\njob:slo_errors_per_request:ratio_rate{short_w}{{{selector}}} > {limit}"
                ),
                "labels": {"severity": rule.severity},
                "annotations": {
                    "summary": f"{job} is burning its error budget at more than {rule.factor:g}x",
                    "description": (
                        f"Error ratio over {long_w} and {short_w} above {rule.factor:g} times the "
                        f"{budget:.3%} allowed by the {slo:.3%} SLO."
                    ),
                },
            }
        )
    if static_threshold is not None:
        alerts.append(
            {
                "alert": "HighErrorRatio",
                "expr": f"job:slo_errors_per_request:ratio_rate5m{{{selector}}} > {static_threshold:g}",
                "labels": {"severity": "page"},
                "annotations": {"summary": f"{job}: more than {static_threshold:.1%} of requests failed in 5 minutes"},
            }
        )
    document = {"groups": [{"name": group, "rules": recorded + alerts}]}
    return yaml.dump(document, Dumper=_RulesDumper, sort_keys=False, width=120)
