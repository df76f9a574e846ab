"""Settings validation (one line naming the key) and asset parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrack.config import load_settings, parse_settings
from dtrack.errors import ConfigError, UsageError
from dtrack.symbols import close_matches, parse_asset, split_multiplier


def test_defaults_and_fees() -> None:
    s = parse_settings({})
    assert s.taker_fee("binance", 0.0005) == pytest.approx(0.0005)
    assert s.funding.sentiment.extreme == pytest.approx(0.0008)
    assert s.venue("okx").rest_url is None


def test_full_document() -> None:
    s = parse_settings({
        "venues": {"okx": {"rest_url": "http://127.0.0.1:9/okx/rest/", "taker_fee_pct": 0.02},
                   "binance": {"rest_urls": {"coinm": "https://dapi.example"}, "enabled": False}},
        "http": {"timeout": 3, "retries": 0},
        "funding": {"sentiment": {"extreme_pct": 0.1, "strong_pct": 0.05, "moderate_pct": 0.01},
                    "alert_threshold_pct": 0.08, "arb_holding_days": 7},
        "cache_dir": "/tmp/x",
    })
    assert s.venue("okx").rest_url == "http://127.0.0.1:9/okx/rest"
    assert s.taker_fee("okx", 0.0005) == pytest.approx(0.0002)
    assert s.venue("binance").rest_urls["coinm"] == "https://dapi.example" and not s.venue("binance").enabled
    assert s.http.timeout == 3 and s.http.retries == 0
    assert s.funding.sentiment.moderate == pytest.approx(0.0001)
    assert s.funding.alert_threshold == pytest.approx(0.0008) and s.funding.arb_holding_days == 7
    assert s.cache_dir == Path("/tmp/x")


@pytest.mark.parametrize(("doc", "key"), [
    ({"venues": {"okx": {"rest_url": "ftp://x"}}}, "venues.okx.rest_url"),
    ({"venues": {"okx": {"rest_ur": "http://x"}}}, "venues.okx.'rest_ur'"),
    ({"http": {"timeout": "fast"}}, "http.timeout"),
    ({"http": {"timeout": -1}}, "http.timeout"),
    ({"funding": {"sentiment": {"extreme_pct": 0.01}}}, "funding.sentiment"),
    ({"venues": {"bybit": {"taker_fee_pct": 12}}}, "venues.bybit.taker_fee_pct"),
    ({"colour": "red"}, "'colour'"),
    ({"http": {"timeout": float("inf")}}, "http.timeout"),
    ({"http": {"backoff": float("nan")}}, "http.backoff"),
    ({"http": {"retries": 2.7}}, "http.retries"),
    ({"http": {"retries": 1000}}, "http.retries"),
    (["not", "a", "mapping"], "<top level>"),
])
def test_bad_values_name_the_key(doc: object, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(doc)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_load_file_env_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("http:\n  timeout: 4\n")
    s = load_settings(str(f), env={"DTRACK_CACHE_DIR": str(tmp_path / "c"), "DTRACK_TIMEOUT": "2.5"})
    assert s.http.timeout == 2.5 and s.cache_dir == tmp_path / "c" and s.source == str(f)
    assert load_settings(None, env={"DTRACK_CONFIG": str(f)}).http.timeout == 4
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "missing.yaml"), env={})
    f.write_text("http: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_settings(str(f), env={})
    for bad in ("soon", "0", "-1", "inf", "nan"):
        with pytest.raises(ConfigError, match="DTRACK_TIMEOUT"):
            load_settings(None, env={"DTRACK_TIMEOUT": bad, "XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(str(tmp_path), env={})
    f.write_bytes(b"http:\n  timeout: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(str(f), env={})
    f.write_text("")
    assert load_settings(str(f), env={}).http.timeout == 10.0  # an empty file is all defaults


@pytest.mark.parametrize(("base", "expected"), [
    ("1000PEPE", ("PEPE", 1000.0)), ("kPEPE", ("PEPE", 1000.0)), ("1000000MOG", ("MOG", 1e6)),
    ("1MBABYDOGE", ("BABYDOGE", 1e6)), ("10000LADYS", ("LADYS", 10000.0)), ("BTC", ("BTC", 1.0)),
    ("1INCH", ("1INCH", 1.0)),
])
def test_split_multiplier(base: str, expected: tuple[str, float]) -> None:
    assert split_multiplier(base) == expected


def test_parse_asset_forms() -> None:
    assert parse_asset("eth").asset == "ETH"
    q = parse_asset("BTC/USDT:USDT")
    assert (q.asset, q.quote, q.settle) == ("BTC", "USDT", "USDT")
    assert parse_asset("kPEPE").asset == "PEPE" and parse_asset("1000pepe").asset == "PEPE"
    for bad in ("", "BTC/", "B-T-C", "BTC/USD:"):
        with pytest.raises(UsageError):
            parse_asset(bad)


def test_close_matches() -> None:
    assert close_matches("BTCC", ["BTC", "ETH", "SOL"]) == ["BTC"]
