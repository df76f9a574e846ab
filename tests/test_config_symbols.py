"""Settings validation (one line naming the key) and asset parsing."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import unreadable_file

from dtrack.config import VenueSettings, load_settings, parse_settings
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
    ({"venues": {"okx": {"rest_ur": "http://x"}}}, "venues.okx.rest_ur"),
    ({"http": {"timeout": "fast"}}, "http.timeout"),
    ({"http": {"timeout": -1}}, "http.timeout"),
    ({"funding": {"sentiment": {"extreme_pct": 0.01}}}, "funding.sentiment"),
    ({"venues": {"bybit": {"taker_fee_pct": 12}}}, "venues.bybit.taker_fee_pct"),
    ({"colour": "red"}, "colour"),
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


# --- settings validation at load time (issue 9 §4) -------------------------------------------------------------

URL_WANT = "expected a URL with http:// or https:// and a host, like https://host[:port][/path]"


@pytest.mark.parametrize(("url", "why"), [
    ("http://", "no host"),
    ("http://:80", "no host"),
    ("http://exa mple.com", "'exa mple.com' is not a host name"),
    ("http://256.1.1.1", "'256.1.1.1' is not a host name"),
    ("http://example.com:99999", "port out of range 0-65535"),
    ("http://example.com:0", "port 0"),
    ("ws://example.com", "scheme 'ws'"),
    ("example.com", "no scheme"),
    ("http://example.com/a\nb", "whitespace or a control character"),
    ("http://example.com/?x=1", "a base URL takes no ?query or #fragment"),
])
def test_rest_url_without_a_real_host_is_a_config_error(url: str, why: str) -> None:
    for doc, key in (({"venues": {"okx": {"rest_url": url}}}, "venues.okx.rest_url"),
                     ({"venues": {"binance": {"rest_urls": {"coinm": url}}}}, "venues.binance.rest_urls.coinm")):
        with pytest.raises(ConfigError) as err:
            parse_settings(doc)
        assert str(err.value) == f"settings key {key}: {URL_WANT}; got {url!r} ({why})"


def test_good_urls_pass_and_lose_the_trailing_slash() -> None:
    s = parse_settings({"venues": {
        "okx": {"rest_url": "https://[::1]:8443/okx/", "ws_urls": {"ws": "wss://ws.okx.com:8443/"}},
        "bybit": {"rest_url": "http://127.0.0.1:9"}, "deribit": {"rest_url": "https://bücher.example"},
        "hyperliquid": {"rest_url": ""},  # empty: not set
    }})
    assert s.venue("okx").rest_url == "https://[::1]:8443/okx"
    assert s.venue("okx").ws_urls == {"ws": "wss://ws.okx.com:8443"}
    assert s.venue("bybit").rest_url == "http://127.0.0.1:9" and s.venue("deribit").rest_url == "https://bücher.example"
    assert s.venue("hyperliquid").rest_url is None
    with pytest.raises(ConfigError, match=r"^settings key venues\.okx\.ws_urls\.ws: expected a URL with ws:// or wss://"):
        parse_settings({"venues": {"okx": {"ws_urls": {"ws": "https://ws.okx.com"}}}})
    with pytest.raises(ConfigError, match=r"^unknown settings key venues\.binance\.ws_urls\.usdm; known binance "
                                          r"WebSocket hosts: fstream, dstream$"):
        parse_settings({"venues": {"binance": {"ws_urls": {"usdm": "wss://fstream.binance.com"}}}})


def test_taker_fee_minus_one_is_rejected_and_null_means_the_registry_fee() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"venues": {"okx": {"taker_fee_pct": -1}}})
    assert str(err.value) == "settings key venues.okx.taker_fee_pct: expected a percent >= 0 and < 5, got -1"
    s = parse_settings({"venues": {"okx": {"taker_fee_pct": None}, "bybit": {"taker_fee_pct": 0}}})
    assert s.venue("okx").taker_fee is None and s.taker_fee("okx", 0.0005) == pytest.approx(0.0005)
    assert s.taker_fee("bybit", 0.00055) == 0.0  # zero is a fee (a VIP tier), not "not set"


@pytest.mark.parametrize(("doc", "message"), [
    ({"funding": {"alert_treshold_pct": 0.1}},
     "unknown settings key funding.alert_treshold_pct; did you mean funding.alert_threshold_pct?"),
    ({"http": {"Timeout": 3}}, "unknown settings key http.Timeout; did you mean http.timeout?"),
    ({"funding": {"sentiment": {"extrem_pct": 1}}},
     "unknown settings key funding.sentiment.extrem_pct; did you mean funding.sentiment.extreme_pct?"),
    ({"colour": "red"}, "unknown settings key colour; known top-level keys: venues, http, streams, funding, oi, "
                        "basis, options, liquidations, liquidation_map, store, collect, alerts, execsim, carry, vol, "
                        "cache_dir, state_dir, instruments_ttl, funding_interval_ttl"),
    ({"oi": {"colour": 1}}, "unknown settings key oi.colour; known keys of oi: divergence_oi_pct, "
                            "divergence_price_pct"),
    ({"venues": {"binnace": {}}}, "unknown settings key venues.binnace; did you mean venues.binance?"),
    ({"venues": {"kraken": {}}}, "unknown settings key venues.kraken; known venues: binance, bybit, okx, deribit, "
                                 "hyperliquid, dydx, gmx, drift, bitmex"),
    ({"venues": {"binance": {"rest_urls": {"usdmm": "http://x"}}}},
     "unknown settings key venues.binance.rest_urls.usdmm; did you mean venues.binance.rest_urls.usdm?"),
    ({"venues": {"okx": {"rest_urls": {"public": "http://x"}}}},
     "unknown settings key venues.okx.rest_urls.public; known okx hosts: rest"),
    ({"venues": {"x" * 5000: {}}}, f"unknown settings key venues.'{'x' * 40}…'; known venues: binance, bybit, okx, "
                                   "deribit, hyperliquid, dydx, gmx, drift, bitmex"),
])
def test_unknown_keys_are_named_plainly_with_the_closest_known_one(doc: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(doc)
    assert str(err.value) == message


def test_long_values_are_clipped_in_messages() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"options": {"dealer_calls": "s" * 5000}})
    assert str(err.value) == f"settings key options.dealer_calls: expected 'short' or 'long', got '{'s' * 40}…'"


def test_registry_hosts_match_the_adapters() -> None:
    """Settings check ``rest_urls`` host keys against the registry (no adapter import at load): each
    registry line must list exactly its adapter's hosts."""
    from dtrack.venues import VENUES, adapter_class

    for name, info in VENUES.items():
        if info.adapter is None:
            assert info.hosts == (), name
            continue
        assert info.hosts == tuple(adapter_class(name).hosts), name


def test_readme_settings_example_loads() -> None:
    """The README's settings.yaml (every key) passes the schema."""
    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Configuration", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    s = parse_settings(yaml.safe_load(block))
    assert s.venue("binance").rest_urls == {"coinm": "https://dapi.binance.com"}
    assert s.options.dealer_calls == "short" and s.instruments_ttl == 3600


def test_every_schema_key_is_read() -> None:
    """Each key of the schema, set to a non-default value, arrives in ``Settings`` (nothing declared twice
    can drift: one declaration, one generic loader)."""
    s = parse_settings({
        "venues": {"okx": {"enabled": False, "rest_url": "http://a", "rest_urls": {"rest": "http://b"},
                           "ws_urls": {"ws": "ws://c"}, "taker_fee_pct": 0.04}},
        "http": {"timeout": 1, "retries": 5, "backoff": 0.5, "max_wait": 2},
        "streams": {"backoff_base": 0.1, "backoff_cap": 2, "stall_seconds": 3, "connect_timeout": 4},
        "funding": {"sentiment": {"extreme_pct": 0.2, "strong_pct": 0.1, "moderate_pct": 0.05},
                    "alert_threshold_pct": 0.3, "arb_holding_days": 3},
        "oi": {"divergence_oi_pct": 5, "divergence_price_pct": 4},
        "basis": {"perp_holding_days": 9, "spot_taker_fee_pct": 0.2},
        "options": {"rank_high_pct": 90, "rank_low_pct": 10, "dealer_calls": "long", "dealer_puts": "short"},
        "cache_dir": "~/c", "state_dir": "/s", "instruments_ttl": 60, "funding_interval_ttl": 30,
    }, source="doc")
    okx = s.venue("okx")
    assert (okx.enabled, okx.rest_url, dict(okx.rest_urls), dict(okx.ws_urls)) == (
        False, "http://a", {"rest": "http://b"}, {"ws": "ws://c"})
    st = s.streams
    assert (st.backoff_base, st.backoff_cap, st.stall_seconds, st.connect_timeout) == (0.1, 2, 3, 4)
    assert okx.taker_fee == pytest.approx(0.0004)
    assert (s.http.timeout, s.http.retries, s.http.backoff, s.http.max_wait) == (1, 5, 0.5, 2)
    sent = s.funding.sentiment
    assert (sent.extreme, sent.strong, sent.moderate) == pytest.approx((0.002, 0.001, 0.0005))
    assert s.funding.alert_threshold == pytest.approx(0.003) and s.funding.arb_holding_days == 3
    assert (s.oi.divergence_oi, s.oi.divergence_price) == pytest.approx((0.05, 0.04))
    assert (s.basis.perp_holding_days, s.basis.spot_taker_fee) == pytest.approx((9, 0.002))
    assert (s.options.rank_high, s.options.rank_low) == pytest.approx((0.9, 0.1))
    assert (s.options.dealer_calls, s.options.dealer_puts) == ("long", "short")
    assert s.cache_dir == Path("~/c").expanduser() and s.state_dir == Path("/s")
    assert (s.instruments_ttl, s.funding_interval_ttl, s.source) == (60, 30, "doc")
    # null keeps every default
    nulls = parse_settings({"http": {"timeout": None}, "funding": {"alert_threshold_pct": None}, "oi": None,
                            "venues": {"okx": None}})
    assert nulls.venue("okx") == VenueSettings() and replace(nulls, venues={}) == parse_settings({})


def test_cross_key_rules() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"options": {"rank_low_pct": 90}})
    assert str(err.value) == "settings key options: expected rank_low_pct < rank_high_pct, got 90 / 80"
    with pytest.raises(ConfigError) as err:
        parse_settings({"streams": {"backoff_base": 5, "backoff_cap": 1}})
    assert str(err.value) == "settings key streams: expected backoff_base <= backoff_cap, got 5 / 1"
    with pytest.raises(ConfigError) as err:
        parse_settings({"streams": {"stall_seconds": 0}})
    assert str(err.value) == "settings key streams.stall_seconds: expected a number >= 0.01 and <= 3600, got 0"
    with pytest.raises(ConfigError) as err:
        parse_settings({"options": {"rank_high_pct": 120}})
    assert str(err.value) == "settings key options.rank_high_pct: expected a percent >= 0 and <= 100, got 120"
    with pytest.raises(ConfigError) as err:
        parse_settings({"funding": {"sentiment": {"strong_pct": 0.1}}})
    assert str(err.value) == ("settings key funding.sentiment: expected extreme_pct > strong_pct > moderate_pct, "
                              "got 0.08 / 0.1 / 0.005")


def test_settings_file_without_read_permission_is_a_config_error(tmp_path: Path) -> None:
    with unreadable_file(tmp_path) as f, pytest.raises(ConfigError) as err:
        load_settings(str(f), env={})
    assert str(err.value) == (f"settings file {str(f)!r} cannot be read (permission denied); "
                              f"let this user read it or give another --config")


def test_unreadable_settings_files_are_config_errors(tmp_path: Path) -> None:
    """Real files the OS refuses to read, even to root: each is one ConfigError line, never an internal error."""
    long_name = tmp_path / ("s" * 300 + ".yaml")  # ENAMETOOLONG (Path.exists() raised it: an internal error)
    with pytest.raises(ConfigError) as err:
        load_settings(str(long_name), env={})
    assert str(err.value) == f"settings file {str(long_name)[:80]!r}… cannot be read (File name too long)".replace(
        "'…", "…'")
    with pytest.raises(ConfigError) as err:
        load_settings("/proc/self/mem", env={})  # EIO: unmapped address 0
    assert str(err.value) == "settings file '/proc/self/mem' cannot be read (Input/output error)"
    with pytest.raises(ConfigError) as err:
        load_settings(str(tmp_path), env={})
    assert str(err.value) == f"settings file {str(tmp_path)!r} is a directory; give a settings.yaml file"
    (tmp_path / "dtrack" / "settings.yaml").mkdir(parents=True)  # the default location, a directory
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(None, env={"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError) as err:
        load_settings("/dev/zero", env={})  # endless: refused, not read into memory
    assert str(err.value) == "settings file '/dev/zero' is larger than 1024 KiB; give a settings.yaml file"


def test_config_module_stays_light() -> None:
    """Importing the settings loads no network, numeric or YAML library (``dtrack --help`` stays fast)."""
    code = ("import sys, dtrack.config; heavy = {'aiohttp', 'numpy', 'pandas', 'yaml', 'rich', 'msgspec'}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
