"""Faults found when checked (issue 9 §4), as a user meets them on the command line: usage errors are one
line and exit 2, settings faults are config errors at load time (exit 1), echoed input is clipped, and
``sim serve`` blames the right option."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import unreadable_file

from clirun import dtrack
from dtrack.errors import SymbolNotFound, UsageError
from dtrack.symbols import parse_asset

LONG = "A" * 5000
CLIPPED = "'" + "A" * 40 + "…'"


pytestmark = pytest.mark.usefixtures("private_dirs")


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``dtrack ARGV...`` as a real process."""
    return subprocess.run([sys.executable, "-m", "dtrack", *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


# --- click's usage errors: one line, exit 2 ---------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "line"), [
    (("funding", "--bogus"), "dtrack: error: No such option '--bogus' (see 'dtrack funding --help')"),
    (("funding", "BTC", "--formt", "json"),
     "dtrack: error: No such option '--formt'. (Did you mean one of: '--format', '--sort'?) "
     "(see 'dtrack funding --help')"),
    (("options",), "dtrack: error: Missing argument 'ASSET...' (see 'dtrack options --help')"),
    (("funding", "BTC", "--format", "xml"),
     "dtrack: error: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv' "
     "(see 'dtrack funding --help')"),
    (("nosuch",), "dtrack: error: No such command 'nosuch' (see 'dtrack --help')"),
    (("--seed", "x", "funding", "BTC"),
     "dtrack: error: Invalid value for '--seed': 'x' is not a valid integer (see 'dtrack --help')"),
    (("funding", "BTC", "--venue"), "dtrack: error: Option '--venue' requires an argument"),
    (("sim", "serve", "--port", "99999"),
     "dtrack: error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535 "
     "(see 'dtrack sim serve --help')"),
    (("funding", "BTC", "--format", LONG),
     f"dtrack: error: Invalid value for '--format': {CLIPPED} is not one of 'table', 'json', 'csv' "
     "(see 'dtrack funding --help')"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                              line: str) -> None:
    r = dtrack(capsys, *argv)
    assert (r.code, r.out, r.err) == (2, "", line + "\n")


def test_usage_error_from_a_real_process() -> None:
    proc = run("oi", "BTC", "--no-such-flag")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "dtrack: error: No such option '--no-such-flag' (see 'dtrack oi --help')\n"


def test_bare_command_still_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "sim")
    assert r.code == 2 and "Usage: dtrack sim [OPTIONS] COMMAND [ARGS]..." in r.out + r.err
    assert "serve" in r.out + r.err and "error" not in r.out + r.err


# --- echoed input is clipped ------------------------------------------------------------------------------------

def test_a_5000_character_asset_is_clipped(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "funding", LONG)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"dtrack: error: cannot read asset {CLIPPED}: ") and r.err.count("\n") == 1
    assert len(r.err) < 200


def test_parse_asset_and_symbol_not_found_clip_what_they_echo() -> None:
    with pytest.raises(UsageError) as err:
        parse_asset(LONG)
    assert str(err.value) == f"cannot read asset {CLIPPED}: type an asset like BTC or eth, or BTC/USDT:USDT"
    with pytest.raises(UsageError) as err:
        parse_asset("BTC/" + "U" * 5000)  # a quote is 1-20 letters or digits, like an asset
    assert str(err.value).startswith(f"cannot read asset 'BTC/{'U' * 36}…': ")
    assert str(SymbolNotFound(LONG, ["BTC"])) == f"unknown asset {CLIPPED}; did you mean BTC?"
    assert str(SymbolNotFound(LONG, where="okx")) == f"no perpetual for {CLIPPED} on okx"
    assert str(SymbolNotFound("BTCC", ["BTC"])) == "unknown asset 'BTCC'; did you mean BTC?"  # short: whole


def test_a_long_fault_spec_is_clipped() -> None:
    proc = run("sim", "serve", "--port", "0", "--fault", LONG)
    assert proc.returncode == 2 and proc.stderr.startswith(f"dtrack: error: bad --fault {CLIPPED}: expected ")
    assert proc.stderr.count("\n") == 1


# --- settings faults: config errors at load time, exit 1 ------------------------------------------------------

@pytest.mark.parametrize(("yaml_text", "line"), [
    ("venues:\n  okx:\n    rest_url: 'http://'\n",
     "dtrack: config error: settings key venues.okx.rest_url: expected a URL with http:// or https:// and a host, "
     "like https://host[:port][/path]; got 'http://' (no host)"),
    ("venues:\n  okx:\n    rest_url: 'http://exa mple.com'\n",
     "dtrack: config error: settings key venues.okx.rest_url: expected a URL with http:// or https:// and a host, "
     "like https://host[:port][/path]; got 'http://exa mple.com' ('exa mple.com' is not a host name)"),
    ("venues:\n  binance:\n    rest_urls:\n      usdmm: 'http://127.0.0.1:9'\n",
     "dtrack: config error: unknown settings key venues.binance.rest_urls.usdmm; "
     "did you mean venues.binance.rest_urls.usdm?"),
    ("venues:\n  bybit:\n    taker_fee_pct: -1\n",
     "dtrack: config error: settings key venues.bybit.taker_fee_pct: expected a percent >= 0 and < 5, got -1"),
    ("funding:\n  alert_treshold_pct: 0.1\n",
     "dtrack: config error: unknown settings key funding.alert_treshold_pct; "
     "did you mean funding.alert_threshold_pct?"),
])
def test_settings_faults_are_config_errors_before_any_request(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              yaml_text: str, line: str) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(yaml_text)
    r = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--sim")
    assert (r.code, r.out, r.err) == (1, "", line + "\n")


def test_unreadable_settings_file_is_a_config_error(tmp_path: Path) -> None:
    """A settings file the OS will not read (as root too: a name too long; a directory) is exit 1, one line."""
    too_long = str(tmp_path / ("s" * 300))
    proc = run("funding", "BTC", env={"DTRACK_CONFIG": too_long})
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (f"dtrack: config error: settings file '{too_long[:80]}…' cannot be read "
                           "(File name too long)\n")
    proc = run("--config", str(tmp_path), "funding", "BTC")
    assert proc.returncode == 2 and proc.stderr.startswith("dtrack: error: Invalid value for '--config': ")
    proc = run("funding", "BTC", env={"DTRACK_CONFIG": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr == (f"dtrack: config error: settings file {str(tmp_path)!r} is a directory; "
                           "give a settings.yaml file\n")


def test_settings_file_without_permission_is_a_config_error(tmp_path: Path) -> None:
    with unreadable_file(tmp_path) as cfg:
        for argv, env in ((("--config", str(cfg), "funding", "BTC"), None),
                          (("funding", "BTC", "--config", str(cfg)), None),
                          (("funding", "BTC"), {"DTRACK_CONFIG": str(cfg)})):
            proc = run(*argv, env=env)
            assert (proc.returncode, proc.stdout) == (1, ""), argv
            assert proc.stderr == (f"dtrack: config error: settings file {str(cfg)!r} cannot be read (permission "
                                   f"denied); let this user read it or give another --config\n")


# --- sim serve blames the right option ---------------------------------------------------------------------------

def test_sim_serve_invalid_host_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    r = dtrack(capsys, "sim", "serve", "--host", "256.1.1.1", "--port", "0")
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1
    assert r.err.startswith("dtrack: error: --host '256.1.1.1' is not a valid address (")
    assert r.err.endswith("); give an address of this machine, like 127.0.0.1\n") and "--port" not in r.err
    r = dtrack(capsys, "sim", "serve", "--host", "", "--port", "0")
    assert (r.code, r.err) == (2, "dtrack: error: --host is empty: give an address of this machine to listen on, "
                                  "like 127.0.0.1\n")


def test_sim_serve_port_in_use_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = dtrack(capsys, "sim", "serve", "--port", str(port))
    assert (r.code, r.err) == (2, f"dtrack: error: port {port} on 127.0.0.1 is in use; pick another --port "
                                  f"(0: any free one)\n")
