"""``dtrack chart``: the series drawn are the client's (pure chart specs on a pinned simulated market), the files
are real PNG and SVG (signature, matplotlib's read-back of the pixel size, the SVG's text), every kind draws on the
sim, and a missing matplotlib or a bad file name is one line, exit 2. The rendering tests need matplotlib (the
``test`` extra installs it); only they skip without it.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests.clirun import dtrack
from tests.conftest import SimThread

import dtrack as dt_api
from dtrack import charts
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

T0_MS = 1_796_371_200_000  # 2026-12-04T08:00:00Z
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pinned() -> Iterator[SimThread]:
    server = SimThread(model=MarketModel(seed=7, now_ms=T0_MS))
    yield server
    server.close()


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    return tmp_path


def test_the_funding_chart_draws_each_contracts_settled_funding(pinned: SimThread, dirs: Path) -> None:
    cfg = dirs / "settings.yaml"
    cfg.write_text(yaml.safe_dump(settings_document(pinned.venue_urls())), encoding="utf-8")
    with dt_api.Client(config=str(cfg), clock=lambda: T0) as dt:
        result = dt.funding(["BTC", "ETH"], history="3d")
    chart = charts.funding_chart(result, timedelta(days=3))
    assert chart.title == "Funding history, last 3 d"
    assert [p.title for p in chart.panels] == ["BTC funding, 8h-equivalent", "ETH funding, 8h-equivalent"]
    drawn = {s.label: s for p in chart.panels for s in p.series}
    with_history = {f"{v} {s}": pts for (v, s), pts in result.series.items() if pts}
    assert set(drawn) == set(with_history) and len(drawn) >= 10
    start = T0 - timedelta(days=3)
    for label, series in drawn.items():
        points = [p for p in with_history[label] if p.time >= start]
        assert series.x == [p.time for p in points] and min(series.x) >= start
        assert series.y == pytest.approx([p.rate_8h * 100 for p in points], rel=1e-12)
    # an 8h-equivalent, whatever the interval: Hyperliquid pays hourly, its points are rate x 8
    hl = next(pts for (v, _), pts in result.series.items() if v == "hyperliquid")
    assert hl[0].interval_hours == 1 and hl[0].rate_8h == pytest.approx(hl[0].rate * 8, rel=1e-12)


def test_chart_funding_writes_a_png_and_an_svg(dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    png = dirs / "x.png"
    run = dtrack(capsys, "chart", "funding", "BTC", "--sim", "-o", str(png))
    assert run.code == 0, run.err
    assert run.err == f"dtrack: chart written to {png}\n"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(png)
    assert pixels.shape == (430, 1200, 4)  # one panel: 12 x 4.3 inches at 100 dpi
    assert pixels[..., :3].std() > 0.05  # not a blank canvas

    svg = dirs / "x.svg"
    run = dtrack(capsys, "chart", "funding", "BTC", "ETH", "--sim", "--history", "2d", "-o", str(svg))
    assert run.code == 0, run.err
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.get("width"), root.get("height")) == ("864pt", "554.4pt")  # two panels: 12 x 7.7 inches
    text = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for label in ("Funding history, last 2 d", "BTC funding, 8h-equivalent", "ETH funding, 8h-equivalent",
                  "binance BTCUSDT", "hyperliquid ETH", "% per 8 h"):
        assert label in text


@pytest.mark.parametrize(("kind", "label"), [
    ("oi", "BTC open interest and price"), ("basis", "BTC basis term structure"),
    ("term", "BTC ATM implied volatility term structure"), ("smile", "BTC volatility smile"),
    ("liquidations", "BTC ESTIMATED liquidation levels (not observed liquidations)"),
])
def test_every_kind_draws_on_the_sim(kind: str, label: str, dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = dirs / f"{kind}.svg"
    run = dtrack(capsys, "chart", kind, "BTC", "--sim", "-o", str(out))
    assert run.code == 0, run.err
    root = ET.parse(out).getroot()
    text = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert label in text
    assert "no data" not in text and "no option" not in text and "no dated" not in text
    if kind == "liquidations":
        assert "Estimated liquidation map (an estimate)" in text and "not observed liquidations" in text


def test_without_matplotlib_one_line_and_exit_2(dirs: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = dirs / "x.png"
    run = dtrack(capsys, "chart", "funding", "BTC", "--sim", "-o", str(out))
    assert run.code == 2
    assert run.err == ("dtrack: error: charts need matplotlib, which is not installed: "
                       "pip install 'dtrack[charts]'\n")
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (("chart", "funding", "BTC", "--sim", "-o", "x.jpg"),
     "dtrack: error: cannot tell the chart format of 'x.jpg': name the file .png or .svg\n"),
    (("chart", "oi", "BTC", "--sim", "--expiry", "next", "-o", "x.png"),
     "dtrack: error: --expiry picks the expiries of a smile chart, not of oi: drop it\n"),
])
def test_bad_chart_input_is_one_line(args: tuple[str, ...], message: str, dirs: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = dtrack(capsys, *args)
    assert run.code == 2 and run.err == message
