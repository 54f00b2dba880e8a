"""The billing overview's two charts, as geometry for server-rendered SVG (no JS, no CDN):
the daily spend of the last 30 days stacked by deployment, from the usage charges, and
the wallet's balance at the end of each day, from its ledger entries' `balance_after`.

The SVGs scale to their container (viewBox, width 100%), so they read on a 390 px phone;
the legend is HTML under the chart.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Max, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Customer
from billing.models import DEFAULT_CURRENCY, AccountKind, LedgerEntry, UsageCharge
from billing.money import usd_text

DAYS = 30
# The five deployments that cost most get a colour of their own; the rest share "Other".
SERIES_MAX = 5
COLOURS = ("#4f46e5", "#0f7b4a", "#a15c00", "#b42318", "#0e7490", "#6b7280")
# A narrow drawing (in px at 100%), so its 13 px labels stay legible scaled down to a
# 390 px phone; wider screens scale it up.
WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 6, 10, 30
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    total: int


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bars: list[Bar] = field(default_factory=list)
    points: str = ""
    zero_y: float | None = None
    x_labels: list[Label] = field(default_factory=list)
    y_labels: list[Label] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)
    legend: list[Series] = field(default_factory=list)
    empty: bool = True
    summary: str = ""


def _days(today: date) -> list[date]:
    return [today - timedelta(days=DAYS - 1 - index) for index in range(DAYS)]


def _x(index: int) -> float:
    return LEFT + PLOT_WIDTH * index / DAYS


def _axis(chart: Chart, *, low: int, high: int, days: list[date]) -> None:
    for fraction in (0.0, 0.5, 1.0):
        value = low + round((high - low) * fraction)
        y = TOP + PLOT_HEIGHT * (1 - fraction)
        chart.grid.append(round(y, 1))
        chart.y_labels.append(Label(x=LEFT - 6, y=round(y + 4, 1), text=usd_text(value)))
    for index in range(0, DAYS, 7):
        x = _x(index) + PLOT_WIDTH / DAYS / 2
        chart.x_labels.append(
            Label(x=round(x, 1), y=HEIGHT - 10, text=days[index].strftime("%b %-d"))
        )


def spend_chart(*, customer: Customer, currency: str = DEFAULT_CURRENCY) -> Chart:
    """Daily usage charges of the last 30 UTC days, one colour per deployment."""
    today = timezone.now().astimezone(UTC).date()
    days = _days(today)
    since = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    rows = (
        UsageCharge.objects.filter(customer=customer, currency=currency, window_start__gte=since)
        .annotate(day=TruncDate("window_start", tzinfo=UTC))
        .values("day", "subject")
        .annotate(amount=Sum("amount"), label=Max("label"))
        .order_by()
    )
    by_day: dict[date, dict[str, int]] = {}
    totals: dict[str, int] = {}
    labels: dict[str, str] = {}
    for row in rows:
        if not row["amount"]:
            continue
        by_day.setdefault(row["day"], {})[row["subject"]] = row["amount"]
        totals[row["subject"]] = totals.get(row["subject"], 0) + row["amount"]
        labels[row["subject"]] = row["label"] or row["subject"]
    chart = Chart()
    if not totals:
        return chart
    ranked = sorted(totals, key=lambda subject: (-totals[subject], subject))
    named = ranked[:SERIES_MAX]
    colour_of = {subject: COLOURS[index] for index, subject in enumerate(named)}
    other = sum(totals[subject] for subject in ranked[SERIES_MAX:])
    chart.legend = [Series(labels[s], colour_of[s], totals[s]) for s in named]
    if other:
        chart.legend.append(Series("Other", COLOURS[-1], other))
    high = max(sum(amounts.values()) for amounts in by_day.values())
    _axis(chart, low=0, high=high, days=days)
    bar_width = PLOT_WIDTH / DAYS * 0.8
    for index, day in enumerate(days):
        y: float = TOP + PLOT_HEIGHT
        amounts = by_day.get(day, {})
        stack = [(labels[s], amounts[s], colour_of[s]) for s in named if amounts.get(s)]
        rest = sum(amount for s, amount in amounts.items() if s not in colour_of)
        if rest:
            stack.append(("Other", rest, COLOURS[-1]))
        for name, amount, colour in stack:
            height = PLOT_HEIGHT * amount / high
            y -= height
            chart.bars.append(
                Bar(
                    x=round(_x(index) + PLOT_WIDTH / DAYS * 0.1, 1),
                    y=round(y, 2),
                    width=round(bar_width, 1),
                    height=round(height, 2),
                    colour=colour,
                    title=f"{day:%b %-d}: {name} {usd_text(amount)}",
                )
            )
    chart.empty = False
    chart.summary = f"Spend over the last {DAYS} days: {usd_text(sum(totals.values()))}."
    return chart


def balance_chart(*, customer: Customer, currency: str = DEFAULT_CURRENCY) -> Chart:
    """The wallet's posted balance at the end of each of the last 30 UTC days."""
    today = timezone.now().astimezone(UTC).date()
    days = _days(today)
    since = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    entries = LedgerEntry.objects.filter(
        account__customer=customer, account__kind=AccountKind.WALLET, currency=currency
    )
    # The last entry of each day: two small queries instead of every entry of the month.
    last_seqs = (
        entries.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(seq=Max("account_seq"))
        .values_list("seq", flat=True)
    )
    closing = {
        entry.created_at.astimezone(UTC).date(): entry.balance_after
        for entry in entries.filter(account_seq__in=list(last_seqs)).only(
            "created_at", "balance_after"
        )
    }
    before = (
        entries.filter(created_at__lt=since)
        .order_by("-account_seq")
        .values_list("balance_after", flat=True)
        .first()
    )
    chart = Chart()
    if not closing and before is None:
        return chart
    balance = before or 0
    series = []
    for day in days:
        balance = closing.get(day, balance)
        series.append(balance)
    low, high = min(0, *series), max(0, *series)
    if high == low:
        high = low + 1_000_000
    _axis(chart, low=low, high=high, days=days)

    def y_of(value: int) -> float:
        return round(TOP + PLOT_HEIGHT * (high - value) / (high - low), 2)

    step = PLOT_WIDTH / DAYS
    points = []
    for index, value in enumerate(series):
        points.append(f"{round(_x(index), 1)},{y_of(value)}")
        points.append(f"{round(_x(index) + step, 1)},{y_of(value)}")
    chart.points = " ".join(points)
    chart.zero_y = y_of(0)
    chart.empty = False
    chart.summary = (
        f"Balance over the last {DAYS} days, from {usd_text(series[0])} to {usd_text(series[-1])}."
    )
    return chart
