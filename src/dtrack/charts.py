"""Charts of the client's results, written to PNG or SVG (``dtrack chart``).

Two steps: a pure one that turns a result into a ``Chart`` (panels of series, labels, notes: testable without
matplotlib), and ``render``, the only code that imports matplotlib (the optional extra ``dtrack[charts]``). A
missing matplotlib is one clear line (``pip install 'dtrack[charts]'``), never a traceback.

The kinds:
- ``funding``: settled funding per venue and contract, 8 h-equivalent (%), over ``--history``;
- ``oi``: open interest per venue (coins of the asset) and the perpetual's price (right axis), over ``--history``;
- ``basis``: the dated futures' annualized basis by days to expiry, per venue, with the constant maturities;
- ``term``: ATM implied volatility by days to expiry, per venue (every listed expiry);
- ``smile``: implied volatility by strike per venue and expiry (out-of-the-money options: puts below the forward,
  calls above);
- ``liquidations``: the ESTIMATED liquidation map (USD by price bin, longs below the price, shorts above), labelled
  as an estimate with its method.

Rates are fractions inside dtrack; charts show percent, as tables do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtrack.errors import UsageError

if TYPE_CHECKING:
    from dtrack.results import BasisResult, FundingResult, LiquidationMapResult, OpenInterestResult, OptionsResult

KINDS = ("funding", "oi", "basis", "term", "smile", "liquidations")
FORMATS = {".png": "png", ".svg": "svg"}
INSTALL = "pip install 'dtrack[charts]'"
#: twenty distinct colours (matplotlib's tab10, then its lighter tab20 shades): many contracts share a panel
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
          "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")


@dataclass(slots=True)
class Series:
    """One line (or set of bars) of a panel: ``x`` times or numbers, ``y`` numbers; ``style`` ``line``,
    ``points`` (markers joined by a line), ``step`` or ``barh`` (horizontal bars: ``x`` the bar lengths, ``y``
    their positions); ``right``: on the panel's right axis; ``color`` a matplotlib colour (None: the cycle)."""

    label: str
    x: list[Any]
    y: list[float]
    style: str = "line"
    right: bool = False
    color: str | None = None


@dataclass(slots=True)
class Panel:
    """One plot: its series, axis labels, a horizontal reference line (``hline``), and ``empty``: what to say when
    there is no series."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    ylabel_right: str = ""
    time_axis: bool = False
    hline: float | None = None
    hline_label: str = ""
    empty: str = "no data"


@dataclass(slots=True)
class Chart:
    """A figure: a title, panels stacked vertically (one per asset), a footnote (the data's time and source)."""

    title: str
    panels: list[Panel]
    footnote: str = ""


def _stamp(as_of: datetime) -> str:
    return f"as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# --- results -> charts (pure) ---------------------------------------------------------------------------------


def funding_chart(result: FundingResult, window: timedelta) -> Chart:
    """Settled funding per venue and contract over ``window``, as 8 h-equivalent percent."""
    start = result.as_of - window
    panels = []
    for asset in result.report.assets:
        panel = Panel(f"{asset} funding, 8h-equivalent", "time (UTC)", "% per 8 h", time_axis=True, hline=0.0,
                      empty=f"no settled funding of {asset} in the window")
        rows = [r for r in result.report.rows if r.rate.instrument.asset == asset]
        for row in rows:
            inst = row.rate.instrument
            points = [p for p in result.series.get((inst.venue, inst.symbol), ()) if p.time >= start]
            if points:
                panel.series.append(Series(f"{inst.venue} {inst.symbol}", [p.time for p in points],
                                           [p.rate_8h * 100 for p in points], style="step"))
        panels.append(panel)
    hours = window.total_seconds() / 3600
    span = f"{hours / 24:g} d" if hours >= 24 and hours % 24 == 0 else f"{hours:g} h"
    return Chart(f"Funding history, last {span}", panels,
                 f"dtrack; {_stamp(result.as_of)}; each rate at its own interval, shown per 8 h")


def oi_chart(result: OpenInterestResult) -> Chart:
    """Open interest per venue in coins of the asset (summed over its contracts at each time), with one
    venue's perpetual price on the right axis."""
    inputs = result.inputs
    panels = []
    assets = [a.asset for a in result.report.summary]
    for asset in assets:
        panel = Panel(f"{asset} open interest and price", "time (UTC)", f"open interest ({asset})", time_axis=True,
                      ylabel_right="price (USD)", empty=f"no open-interest history of {asset}")
        if inputs is not None:
            symbols = {(o.instrument.venue, o.instrument.symbol) for o in inputs.oi if o.instrument.asset == asset}
            by_venue: dict[str, dict[datetime, float]] = {}
            for (venue, symbol), hist in inputs.histories.items():
                if (venue, symbol) not in symbols:
                    continue
                totals = by_venue.setdefault(venue, {})
                for p in hist.points:
                    totals[p.time] = totals.get(p.time, 0.0) + p.base
            for venue, totals in by_venue.items():
                times = sorted(totals)
                panel.series.append(Series(venue, times, [totals[t] for t in times]))
            price = next(((v, pts) for (v, a), pts in inputs.prices.items() if a == asset and pts), None)
            if price is not None and panel.series:
                venue, pts = price
                ordered = sorted(pts, key=lambda p: p.time)
                panel.series.append(Series(f"price ({venue})", [p.time for p in ordered], [p.price for p in ordered],
                                           right=True, color="black"))
        panels.append(panel)
    return Chart("Open interest and price", panels, f"dtrack; {_stamp(result.as_of)}; one side, in coins")


def basis_chart(result: BasisResult) -> Chart:
    """The dated futures' annualized basis by days to expiry, per venue, and the constant maturities."""
    panels = []
    for a in result.report.summary:
        panel = Panel(f"{a.asset} basis term structure ({a.structure})", "days to expiry", "annualized basis (%)",
                      hline=0.0, empty=f"no dated futures of {a.asset}")
        by_venue: dict[str, list[tuple[float, float]]] = {}
        for r in a.term_structure:
            if r.days_to_expiry is not None and r.annualized is not None:
                by_venue.setdefault(r.venue, []).append((r.days_to_expiry, r.annualized * 100))
        for venue, pts in by_venue.items():
            pts.sort()
            panel.series.append(Series(venue, [d for d, _ in pts], [y for _, y in pts], style="points"))
        cm = [(c.days, c.annualized * 100) for c in a.constant_maturity if c.annualized is not None]
        if cm:
            panel.series.append(Series("constant maturity", [d for d, _ in cm], [y for _, y in cm], color="black"))
        panels.append(panel)
    return Chart("Basis term structure", panels, f"dtrack; {_stamp(result.report.time)}; basis against spot")


def term_chart(result: OptionsResult) -> Chart:
    """ATM implied volatility by days to expiry, per venue."""
    panels = []
    for s in result.report.summary:
        panel = Panel(f"{s.asset} ATM implied volatility term structure", "days to expiry", "ATM IV (%)",
                      empty=f"no option expiry of {s.asset} with an ATM IV")
        by_venue: dict[str, list[tuple[float, float]]] = {}
        for e in result.report.term_structure:
            if e.asset == s.asset and e.atm_iv is not None:
                by_venue.setdefault(e.venue, []).append((e.days, e.atm_iv * 100))
        for venue, pts in by_venue.items():
            pts.sort()
            panel.series.append(Series(venue, [d for d, _ in pts], [y for _, y in pts], style="points"))
        panels.append(panel)
    return Chart("Implied volatility term structure", panels, f"dtrack; {_stamp(result.report.time)}")


def smile_chart(result: OptionsResult) -> Chart:
    """Implied volatility by strike, per venue and expiry: the out-of-the-money side of each strike (puts
    below the forward, calls above)."""
    panels = []
    for s in result.report.summary:
        panel = Panel(f"{s.asset} volatility smile", "strike (USD)", "implied volatility (%)",
                      empty=f"no option of {s.asset} with an IV")
        lines: dict[tuple[str, datetime], list[tuple[float, float]]] = {}
        for row in result.report.chain:
            q = row.quote
            if q.asset != s.asset or row.mark_iv is None or not math.isfinite(row.mark_iv):
                continue
            if (q.strike >= q.underlying_price) != q.is_call:
                continue  # the in-the-money side: its IV is the other side's, with wider quotes
            lines.setdefault((q.venue, q.expiry), []).append((q.strike, row.mark_iv * 100))
        for (venue, expiry), pts in sorted(lines.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            pts.sort()
            panel.series.append(Series(f"{venue} {expiry:%Y-%m-%d}", [k for k, _ in pts], [v for _, v in pts],
                                       style="points"))
        panels.append(panel)
    return Chart("Volatility smile", panels, f"dtrack; {_stamp(result.report.time)}; mark IVs")


def liquidation_map_chart(result: LiquidationMapResult) -> Chart:
    """The estimated liquidation map: USD by price bin, longs (below the price) and shorts (above)."""
    panels = []
    for m in result.maps:
        panel = Panel(f"{m.asset} ESTIMATED liquidation levels (not observed liquidations)",
                      "estimated USD to be liquidated", "price (USD)", hline=m.price,
                      hline_label=f"price {m.price:,.1f}", empty=f"no estimate for {m.asset}")
        longs = [b for b in m.bins if b.side == "long"]
        shorts = [b for b in m.bins if b.side != "long"]
        if longs:
            panel.series.append(Series("longs (liquidated if price falls)", [b.usd for b in longs],
                                       [b.price for b in longs], style="barh", color="tab:red"))
        if shorts:
            panel.series.append(Series("shorts (liquidated if price rises)", [b.usd for b in shorts],
                                       [b.price for b in shorts], style="barh", color="tab:green"))
        panels.append(panel)
    method = result.params.method_id
    return Chart("Estimated liquidation map (an estimate)", panels,
                 f"dtrack; {_stamp(result.as_of)}; ESTIMATE from open-interest history and prices"
                 + (f", method {method}" if method else "") + "; not observed liquidations")


# --- rendering (matplotlib) -----------------------------------------------------------------------------------


def output_format(path: str | Path) -> str:
    """``png`` or ``svg`` from the file name; anything else is a usage error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the chart format of {str(path)!r}: name the file .png or .svg")
    return FORMATS[suffix]


def require_matplotlib() -> None:
    """Raise a ``UsageError`` saying how to install the charts extra when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"charts need matplotlib, which is not installed: {INSTALL}") from None


def render(chart: Chart, path: str | Path) -> Path:
    """Draw ``chart`` into ``path`` (PNG or SVG by its suffix); the file written."""
    fmt = output_format(path)
    require_matplotlib()
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, len(chart.panels))
    from cycler import cycler

    # SVG: text kept as text (searchable, smaller), ids stable from run to run
    style: Any = {"svg.hashsalt": "dtrack", "svg.fonttype": "none", "font.size": 9,
                  "axes.prop_cycle": cycler(color=COLORS)}
    with matplotlib.rc_context(style):
        fig = Figure(figsize=(12.0, 3.4 * n + 0.9), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        for ax, panel in zip(axes, chart.panels or [Panel("", "", "")], strict=False):
            _draw(ax, panel)
        fig.suptitle(chart.title, fontsize=11, fontweight="bold")
        if chart.footnote:
            fig.supxlabel(chart.footnote, fontsize=7, color="0.35")
        out = Path(path)
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
        fig.savefig(out, format=fmt, metadata=metadata)
    return out


def _draw(ax: Any, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.3)
    if not panel.series:
        ax.text(0.5, 0.5, panel.empty, ha="center", va="center", transform=ax.transAxes, color="0.4")
        return
    right = None
    handles = []
    for s in panel.series:
        target = ax
        if s.right:
            if right is None:
                right = ax.twinx()
                right.set_ylabel(panel.ylabel_right)
            target = right
        kw: dict[str, Any] = {"label": s.label}
        if s.color is not None:
            kw["color"] = s.color
        if s.style == "barh":
            height = _bar_height(s.y)
            handles.append(target.barh(s.y, s.x, height=height, alpha=0.75, **kw))
        elif s.style == "step":
            handles += target.step(s.x, s.y, where="post", linewidth=1.2, **kw)
        elif s.style == "points":
            handles += target.plot(s.x, s.y, marker="o", markersize=3.5, linewidth=1.0, **kw)
        else:
            handles += target.plot(s.x, s.y, linewidth=1.2, **kw)
    if panel.hline is not None:
        horizontal = ax.axhline(panel.hline, color="0.3", linewidth=0.8, linestyle="--",
                                label=panel.hline_label or None)
        if panel.hline_label:
            handles.append(horizontal)
    if panel.time_axis:
        import importlib

        dates: Any = importlib.import_module("matplotlib.dates")  # its locators are untyped
        locator = dates.AutoDateLocator(tz=UTC)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    ax.legend(handles=handles, labels=[h.get_label() for h in handles], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.09 if right is not None else 1.01, 1.0), borderaxespad=0.0,
              ncols=2 if len(handles) > 14 else 1)


def _bar_height(ys: Sequence[float]) -> float:
    ordered = sorted(set(ys))
    gaps = [b - a for a, b in pairwise(ordered) if b > a]
    return min(gaps) * 0.9 if gaps else 1.0
