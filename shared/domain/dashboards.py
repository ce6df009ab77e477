"""Embeddable dashboards: the signed link, the page's display options, the usage chart's numbers.

A link carries a JWT (HS256) over the customer, the dashboard and the expiry; whoever holds the
link sees that customer's dashboard until it expires, and nothing else. Display options (`theme`,
`color_*`) and the usage chart's range sit outside the signature: they change how the page looks
and which days of the same customer's usage it shows, never whose data it is. Every value a page
takes from its URL is checked here (colours are `#rrggbb` and nothing else, so none reaches the
page's CSS as anything but a colour). docs/dashboards.md is the user's view.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

from shared.domain.breakdowns import Breakdown
from shared.domain.validation import FieldError

Dashboard = Literal["invoices", "usage"]
DASHBOARDS: tuple[Dashboard, ...] = get_args(Dashboard)
DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 86400


class LinkRefused(Exception):
    """A dashboard link that grants nothing: missing, malformed, tampered with, or expired (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DashboardGrant:
    """What a link grants: one customer's dashboard until `expires_at`."""

    customer_id: str
    dashboard: Dashboard
    issued_at: datetime
    expires_at: datetime


def grant_for(customer_id: str, dashboard: Dashboard, now: datetime, ttl_seconds: int) -> DashboardGrant:
    issued = now.astimezone(UTC).replace(microsecond=0)
    return DashboardGrant(customer_id, dashboard, issued, issued + timedelta(seconds=ttl_seconds))


# -- display options ---------------------------------------------------------------------------------
Theme = Literal["light", "dark"]
THEMES: tuple[Theme, ...] = get_args(Theme)
# `color_<name>` query parameter → the CSS custom property it sets.
COLOR_PARAMETERS: dict[str, str] = {
    "color_accent": "--accent",
    "color_background": "--background",
    "color_text": "--text",
}
_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")


@dataclass(frozen=True)
class Display:
    theme: Theme = "light"
    colors: tuple[tuple[str, str], ...] = ()  # (parameter, "#rrggbb"), in COLOR_PARAMETERS' order

    def query(self) -> list[tuple[str, str]]:
        """The options as query parameters, for links from one page of the dashboard to another."""
        shown = [] if self.theme == "light" else [("theme", self.theme)]
        return shown + list(self.colors)

    def css_variables(self) -> list[tuple[str, str]]:
        return [(COLOR_PARAMETERS[name], value) for name, value in self.colors]


def display_options(parameters: Mapping[str, str]) -> Display:
    """`theme` (light or dark) and the `color_*` parameters, each checked; an unknown `color_*` is
    refused so that a misspelt one is noticed rather than ignored."""
    theme = parameters.get("theme", "light")
    if theme not in THEMES:
        raise FieldError("theme", f"must be one of {', '.join(THEMES)}")
    for name in parameters:
        if name.startswith("color_") and name not in COLOR_PARAMETERS:
            raise FieldError(name, f"unknown colour; the colours are {', '.join(COLOR_PARAMETERS)}")
    colors = []
    for name in COLOR_PARAMETERS:
        value = parameters.get(name)
        if value is None:
            continue
        if not _HEX_COLOR.fullmatch(value):
            raise FieldError(name, "must be a colour written #rrggbb (six hexadecimal digits)")
        colors.append((name, value.lower()))
    return Display(theme, tuple(colors))


# -- the usage chart ---------------------------------------------------------------------------------
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_DAYS = 366
# Lines per chart: more are unreadable, and a page of 366 days x hundreds of products would
# outgrow Lambda's 6 MB answer. The largest products keep their own line; the rest share one.
MAX_SERIES = 12
OTHER_PRODUCTS = "other products"


@dataclass(frozen=True)
class UsageRange:
    """Whole UTC days: `[starting_on, ending_before)`."""

    starting_on: date
    ending_before: date

    @property
    def days(self) -> list[date]:
        count = (self.ending_before - self.starting_on).days
        return [self.starting_on + timedelta(days=offset) for offset in range(count)]

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime(self.starting_on.year, self.starting_on.month, self.starting_on.day, tzinfo=UTC)
        end = datetime(self.ending_before.year, self.ending_before.month, self.ending_before.day, tzinfo=UTC)
        return start, end


def usage_range(parameters: Mapping[str, str], today: date) -> UsageRange:
    """`days` (default 30, at most 366) ending before `ending_before` (a date; default: tomorrow,
    so today is the last day shown)."""
    days_text = parameters.get("days")
    days = DEFAULT_USAGE_DAYS
    if days_text is not None:
        if not re.fullmatch(r"[0-9]{1,3}", days_text) or not 1 <= int(days_text) <= MAX_USAGE_DAYS:
            raise FieldError("days", f"must be a whole number of days from 1 to {MAX_USAGE_DAYS}")
        days = int(days_text)
    end_text = parameters.get("ending_before")
    ending_before = today + timedelta(days=1)
    if end_text is not None:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", end_text):
            raise FieldError("ending_before", "must be a date written YYYY-MM-DD")
        try:
            ending_before = date.fromisoformat(end_text)
        except ValueError:
            raise FieldError("ending_before", "must be a date written YYYY-MM-DD") from None
        if ending_before.year < 1971:
            raise FieldError("ending_before", "must be a date from 1971 on")
    return UsageRange(ending_before - timedelta(days=days), ending_before)


@dataclass(frozen=True)
class SpendSeries:
    label: str  # the product id, or the line's name for a line without one
    totals: tuple[Decimal, ...]  # one per day of the range


@dataclass(frozen=True)
class SpendChart:
    """One currency's daily spend per product (amounts in different currencies are never added)."""

    currency: str
    days: tuple[date, ...]
    series: tuple[SpendSeries, ...]

    @property
    def daily_totals(self) -> tuple[Decimal, ...]:
        return tuple(sum((s.totals[i] for s in self.series), Decimal(0)) for i in range(len(self.days)))


def daily_spend(entries: Iterable[Breakdown], window: UsageRange) -> list[SpendChart]:
    """DAY breakdown entries summed per currency, product and day (in currency order, then label)."""
    days = tuple(window.days)
    index = {day: position for position, day in enumerate(days)}
    sums: dict[str, dict[str, list[Decimal]]] = defaultdict(dict)
    for entry in entries:
        position = index.get(entry.breakdown_start_timestamp.date())
        if position is None:
            continue
        per_label = sums[entry.currency]
        for line in entry.line_items:
            label = line.product_id or line.name
            totals = per_label.setdefault(label, [Decimal(0)] * len(days))
            totals[position] += line.total
    return [SpendChart(currency, days, _series(sums[currency], len(days))) for currency in sorted(sums)]


def _series(per_label: dict[str, list[Decimal]], days: int) -> tuple[SpendSeries, ...]:
    """In label order; beyond MAX_SERIES, the largest MAX_SERIES - 1 by total and one summing the rest."""
    if len(per_label) > MAX_SERIES:
        by_size = sorted(per_label, key=lambda label: (-sum(per_label[label]), label))
        kept = {label: per_label[label] for label in by_size[: MAX_SERIES - 1]}
        rest = [per_label[label] for label in by_size[MAX_SERIES - 1 :]]
        others = [sum((totals[day] for totals in rest), Decimal(0)) for day in range(days)]
        ordered = [SpendSeries(label, tuple(totals)) for label, totals in sorted(kept.items())]
        return (*ordered, SpendSeries(OTHER_PRODUCTS, tuple(others)))
    return tuple(SpendSeries(label, tuple(totals)) for label, totals in sorted(per_label.items()))
