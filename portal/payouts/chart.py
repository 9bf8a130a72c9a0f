"""The earnings chart as plain geometry for a server-rendered SVG (no JavaScript needed).

Bars are scaled to the largest period; a period with net refunds draws no bar (the table
beside the chart gives every exact amount, negative ones included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from portal.payouts.earnings import Bucket

WIDTH = 640
HEIGHT = 220
TOP = 16
BOTTOM = 36  # room for the labels under the bars
LEFT = 8


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    label_x: int
    label: str
    amount: Decimal


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: int
    bars: list[Bar]
    peak: Decimal


def build_chart(buckets: Sequence[Bucket]) -> Chart:
    baseline = HEIGHT - BOTTOM
    plot_height = baseline - TOP
    peak = max((b.amount for b in buckets), default=Decimal("0"))
    slot = (WIDTH - 2 * LEFT) // max(len(buckets), 1)
    bar_width = max(slot - 8, 4)
    bars = []
    for i, bucket in enumerate(buckets):
        height = 0
        if peak > 0 and bucket.amount > 0:
            height = max(int(bucket.amount / peak * plot_height), 1)
        x = LEFT + i * slot + (slot - bar_width) // 2
        bars.append(
            Bar(
                x=x,
                y=baseline - height,
                width=bar_width,
                height=height,
                label_x=x + bar_width // 2,
                label=bucket.label,
                amount=bucket.amount,
            )
        )
    return Chart(WIDTH, HEIGHT, baseline, bars, peak)
