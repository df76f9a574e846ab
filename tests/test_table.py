"""``dtrack.report.table``: the plain terminal tables, exactly, at given widths."""

from __future__ import annotations

import pytest

from dtrack.report.table import Column, Table, Text, View, display_width, wrap

GMX = "arbitrum:BTC/USD [WBTC.b-USDC]"


def funding_table() -> Table:
    table = Table("BTC PERPETUAL FUNDING RATES", [
        Column("Venue"), Column("Symbol"), Column("8h-eq", "right"), Column("APR", "right", 1),
        Column("Next payment", "right", 3), Column("OI (USD)", "right", 2)])
    table.add_row("binance", "BTCUSDT", "+0.0100%", "+10.95%", "2h 20m", "$1.82B", mark="!", style="red")
    table.add_row("okx", "BTC-USD-SWAP", "-0.0007%", "-0.76%", "2h 20m", "$335.16M")
    table.add_row("gmx", GMX, "+0.0145%", "+15.85%", "continuous", "$286.68M")
    table.note("Rows marked ! exceed the alert threshold of ±0.0100% per 8 h.")
    return table


def test_every_column_when_it_fits() -> None:
    assert funding_table().render(200) == (
        "BTC PERPETUAL FUNDING RATES\n"
        "  Venue    Symbol                             8h-eq      APR  Next payment  OI (USD)\n"
        "  ───────  ──────────────────────────────  ────────  ───────  ────────────  ────────\n"
        "! binance  BTCUSDT                         +0.0100%  +10.95%        2h 20m    $1.82B\n"
        "  okx      BTC-USD-SWAP                    -0.0007%   -0.76%        2h 20m  $335.16M\n"
        "  gmx      arbitrum:BTC/USD [WBTC.b-USDC]  +0.0145%  +15.85%    continuous  $286.68M\n"
        "Rows marked ! exceed the alert threshold of ±0.0100% per 8 h.\n")


def test_the_least_important_columns_go_first() -> None:
    assert funding_table().render(70) == (
        "BTC PERPETUAL FUNDING RATES\n"
        "  Venue    Symbol                             8h-eq      APR  OI (USD)\n"
        "  ───────  ──────────────────────────────  ────────  ───────  ────────\n"
        "! binance  BTCUSDT                         +0.0100%  +10.95%    $1.82B\n"
        "  okx      BTC-USD-SWAP                    -0.0007%   -0.76%  $335.16M\n"
        "  gmx      arbitrum:BTC/USD [WBTC.b-USDC]  +0.0145%  +15.85%  $286.68M\n"
        "Rows marked ! exceed the alert threshold of ±0.0100% per 8 h.\n")
    assert funding_table().render(52) == (
        "BTC PERPETUAL FUNDING RATES\n"
        "  Venue    Symbol                             8h-eq\n"
        "  ───────  ──────────────────────────────  ────────\n"
        "! binance  BTCUSDT                         +0.0100%\n"
        "  okx      BTC-USD-SWAP                    -0.0007%\n"
        "  gmx      arbitrum:BTC/USD [WBTC.b-USDC]  +0.0145%\n"
        "Rows marked ! exceed the alert threshold of ±0.0100%\n"
        "  per 8 h.\n")
    assert [(funding_table().columns[i].name, w) for i, w in funding_table().shown(61)] == [
        ("Venue", 7), ("Symbol", 30), ("8h-eq", 8), ("APR", 7)]


def test_essential_columns_are_never_dropped_nor_cut() -> None:
    """Narrower than the priority-0 columns: they are shown whole, never cut or given an ellipsis."""
    out = funding_table().render(20)
    assert "  gmx      arbitrum:BTC/USD [WBTC.b-USDC]  +0.0145%\n" in out
    assert "…" not in out and "APR" not in out


def test_wide_shows_everything_and_wraps_nothing() -> None:
    table = funding_table()
    table.note("a note " * 40)
    out = table.render(None)
    assert "Next payment" in out and ("a note " * 40).rstrip() in out


def test_a_prose_column_wraps_before_any_column_is_dropped() -> None:
    table = Table("HISTORY", [Column("Venue"), Column("Mean", "right"), Column("Last", "right", 1),
                              Column("Note", priority=2, wrap=True, min_width=12)])
    table.add_row("deribit", "+0.0111%", "+0.0093%", "hourly samples of the 8 h-equivalent rate")
    table.add_row("okx", "+0.0049%", "+0.0059%", "")
    assert table.render(48) == (
        "HISTORY\n"
        "Venue        Mean      Last  Note\n"
        "───────  ────────  ────────  ───────────────────\n"  # the note takes what is left: 19 columns
        "deribit  +0.0111%  +0.0093%  hourly samples of\n"
        "                             the 8 h-equivalent\n"
        "                             rate\n"
        "okx      +0.0049%  +0.0059%\n")
    assert table.render(40) == (  # 11 columns left, under the note's least width: the note goes
        "HISTORY\n"
        "Venue        Mean      Last\n"
        "───────  ────────  ────────\n"
        "deribit  +0.0111%  +0.0093%\n"
        "okx      +0.0049%  +0.0059%\n")


def test_ties_drop_the_rightmost_first_and_center_aligns() -> None:
    table = Table(None, [Column("A"), Column("Bcde", "center", 1), Column("C", priority=1)])
    table.add_row("x", "yy", "zzzz")
    assert table.render(10) == "A  Bcde\n─  ────\nx   yy\n"


def test_views_prose_and_colour() -> None:
    table = Table("T", [Column("Venue"), Column("Rate", "right")])
    table.add_row("okx", "+1%", style="bold")
    view = View(Text("as of 2026-12-05 05:40:12 UTC (12 s ago)", style="dim"), table, "plain text")
    assert view.render(80) == ("as of 2026-12-05 05:40:12 UTC (12 s ago)\n\n"  # a blank line before a title
                               "T\nVenue  Rate\n─────  ────\nokx     +1%\nplain text\n")
    assert view.render(80, color=True) == (
        "\x1b[2mas of 2026-12-05 05:40:12 UTC (12 s ago)\x1b[0m\n\n"
        "\x1b[1mT\x1b[0m\n\x1b[1mVenue  Rate\x1b[0m\n\x1b[2m─────  ────\x1b[0m\n\x1b[1mokx     +1%\x1b[0m\n"
        "plain text\n")
    assert str(view) == view.render(None)


def test_prose_wraps_at_spaces_and_keeps_symbols_whole() -> None:
    line = f"gmx {GMX} per 8 h: a long pays +0.0233% (funding +0.0145% + borrow +0.0088%)"
    assert wrap(line, 40, nobreak=(GMX,)) == [
        f"gmx {GMX} per 8",
        "  h: a long pays +0.0233% (funding",
        "  +0.0145% + borrow +0.0088%)"]
    assert wrap("  note: x y", 8) == ["  note:", "    x y"]  # continuation lines: two more spaces
    assert wrap("abcdefghij", 4) == ["abcd", "  ef", "  gh", "  ij"]  # a word longer than a line: cut (prose only)
    assert wrap("one\ntwo", 80) == ["one", "two"]
    assert wrap("a b", None) == ["a b"]


@pytest.mark.parametrize(("text", "width"), [("abc", 3), ("USDⓈ-M", 6), ("—", 1), ("日本", 4), ("é", 1)])
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


def test_rows_must_match_the_columns() -> None:
    with pytest.raises(ValueError):
        Table(None, [Column("A")]).add_row("x", "y")
