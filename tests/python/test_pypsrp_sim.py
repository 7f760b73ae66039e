"""A real third-party client against the simulator: pypsrp opens a
RunspacePool on configuration Microsoft.Exchange over Basic auth, reads
mailboxes, changes one with a hashtable, and is refused a script.

The simulator binary comes from $EXCHANGE_SIM, else target/debug/exchange-sim
(build it first: cargo build -p exchange-sim).
"""

import os
import pathlib
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

REPO = pathlib.Path(__file__).resolve().parents[2]
EXPECTED_PROPERTIES = {
    "Database",
    "EmailAddresses",
    "ExchangeGuid",
    "PrimarySmtpAddress",
    "RecipientTypeDetails",
    "SamAccountName",
    "WhenChangedUTC",
    "WhenCreatedUTC",
    "Guid",
    "Name",
    "ObjectState",
}
NO_LANGUAGE = (
    "The syntax is not supported by this runspace. "
    "This can occur if the runspace is in no-language mode."
)


def simulator_binary():
    path = os.environ.get("EXCHANGE_SIM") or str(REPO / "target" / "debug" / "exchange-sim")
    if not os.path.exists(path):
        pytest.fail(f"simulator binary not found at {path}: run `cargo build -p exchange-sim` or set EXCHANGE_SIM")
    return path


@pytest.fixture(scope="module")
def simulator():
    process = subprocess.Popen(
        [simulator_binary(), "--listen", "127.0.0.1:0", "--auth", "basic",
         "--mailboxes", "40", "--databases", "2", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError("simulator printed no URL: " + process.stderr.read())
        yield urllib.parse.urlparse(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def pool(simulator):
    wsman = WSMan(
        simulator.hostname,
        port=simulator.port,
        path="PowerShell/",
        ssl=False,
        auth="basic",
        username="admin",
        password="admin",
        encryption="never",
    )
    with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as runspace_pool:
        yield runspace_pool


def adapted(obj):
    return obj.adapted_properties


def collection(obj):
    """The items of a deserialized ProxyAddressCollection (an <Obj> holding an
    <LST> of <S>). pypsrp does not know the type, so it keeps the <LST>
    element as raw XML in property_sets, as it would for a real Exchange."""
    assert obj.types[0] == "Microsoft.Exchange.Data.ProxyAddressCollection", obj.types
    (raw,) = obj.property_sets
    lst = ET.fromstring(raw)
    assert lst.tag == "LST"
    return [item.text or "" for item in lst]


def test_get_mailbox_result_size_5(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", 5)
    output = ps.invoke()
    assert not ps.had_errors, ps.streams.error
    assert len(output) == 5
    for mailbox in output:
        props = adapted(mailbox)
        assert EXPECTED_PROPERTIES <= set(props), sorted(set(EXPECTED_PROPERTIES) - set(props))
        assert mailbox.types[0] == "Microsoft.Exchange.Data.Directory.Management.Mailbox"
        addresses = collection(props["EmailAddresses"])
        assert addresses[0].startswith("SMTP:")
    # More mailboxes exist than the explicit size: Exchange's warning.
    assert any("more results available" in str(w) for w in ps.streams.warning)


def primary_and_addresses(pool, identity):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Mailbox").add_parameter("Identity", identity)
    output = ps.invoke()
    assert not ps.had_errors, ps.streams.error
    assert len(output) == 1
    return collection(adapted(output[0])["EmailAddresses"])


def test_set_mailbox_with_a_hashtable(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Set-Mailbox").add_parameter("Identity", "Administrator").add_parameter(
        "EmailAddresses", {"Add": ["pytest-one@contoso.com", "smtp:pytest-two@contoso.com"]}
    )
    ps.invoke()
    assert not ps.had_errors, ps.streams.error
    addresses = primary_and_addresses(pool, "Administrator")
    assert "smtp:pytest-one@contoso.com" in addresses
    assert "smtp:pytest-two@contoso.com" in addresses

    ps = PowerShell(pool)
    ps.add_cmdlet("Set-Mailbox").add_parameter("Identity", "Administrator").add_parameter(
        "EmailAddresses", {"Remove": "pytest-one@contoso.com"}
    )
    ps.invoke()
    assert not ps.had_errors, ps.streams.error
    addresses = primary_and_addresses(pool, "Administrator")
    assert "smtp:pytest-one@contoso.com" not in addresses
    assert "smtp:pytest-two@contoso.com" in addresses


def test_script_is_refused(pool):
    ps = PowerShell(pool)
    ps.add_script("Get-Mailbox | ForEach-Object { $_.Name }")
    ps.invoke()
    assert ps.had_errors
    messages = [str(e) for e in ps.streams.error]
    assert any(NO_LANGUAGE in m for m in messages), messages


def test_reader_cannot_write(simulator):
    wsman = WSMan(
        simulator.hostname,
        port=simulator.port,
        path="PowerShell/",
        ssl=False,
        auth="basic",
        username="reader",
        password="reader",
        encryption="never",
    )
    with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Set-Mailbox").add_parameter("Identity", "Administrator").add_parameter(
            "EmailAddressPolicyEnabled", False
        )
        ps.invoke()
        assert ps.had_errors
        assert any("is not recognized as the name of a cmdlet" in str(e) for e in ps.streams.error)
