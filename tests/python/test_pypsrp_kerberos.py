"""pypsrp as a third-party Kerberos client of the simulator: a throwaway MIT
realm (the `krb5-realm` binary), `auth="kerberos"`, `encryption="always"`,
`negotiate_service="HTTP"`. It opens a RunspacePool on Microsoft.Exchange
and runs Get-Mailbox over sealed messages, which proves the simulator's
sealing is what real clients (and so Windows servers) do.

Binaries: $EXCHANGE_SIM / $KRB5_REALM, else target/debug/{exchange-sim,krb5-realm}
(build them first: cargo build -p exchange-sim -p krb5-realm).
"""

import base64
import os
import pathlib
import socket
import subprocess
import urllib.parse

import pytest
import spnego
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

REPO = pathlib.Path(__file__).resolve().parents[2]


def binary(name, variable):
    path = os.environ.get(variable) or str(REPO / "target" / "debug" / name)
    if not os.path.exists(path):
        pytest.fail(f"{name} not found at {path}: run `cargo build -p {name}` or set {variable}")
    return path


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def realm():
    """The realm's variables, put into this test process's environment:
    pytest runs these tests in a process of their own, and GSSAPI reads
    KRB5_CONFIG and KRB5CCNAME from it."""
    process = subprocess.Popen(
        [binary("krb5-realm", "KRB5_REALM"), "--kinit", "admin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    variables = {}
    try:
        for line in process.stdout:
            line = line.strip()
            if line == "READY":
                break
            name, _, value = line.partition("=")
            variables[name] = value
        if "KRB5_CONFIG" not in variables:
            raise RuntimeError("krb5-realm did not start")
        saved = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        yield variables
    finally:
        for name, value in locals().get("saved", {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.stdin.close()
        process.wait(timeout=30)


def start_simulator(realm, *extra):
    process = subprocess.Popen(
        [binary("exchange-sim", "EXCHANGE_SIM"), "--listen", "127.0.0.1:0",
         "--auth", "kerberos", "--keytab", realm["KRB5_SERVICE_KEYTAB"],
         "--mailboxes", "25", "--databases", "2", "--seed", "3", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().strip()
    if not url:
        stop(process)
        raise RuntimeError("the simulator printed no URL")
    return process, urllib.parse.urlparse(url)


@pytest.fixture(scope="module")
def simulator(realm):
    process, url = start_simulator(realm)
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def kerberos_only_simulator(realm):
    """An endpoint offering only the raw Kerberos scheme."""
    process, url = start_simulator(realm, "--no-negotiate")
    try:
        yield url
    finally:
        stop(process)


def wsman(simulator):
    return WSMan(
        simulator.hostname,
        port=simulator.port,
        path="PowerShell/",
        ssl=False,
        auth="kerberos",
        encryption="always",
        negotiate_service="HTTP",
        operation_timeout=20,
        read_timeout=30,
    )


def test_get_mailbox_over_sealed_kerberos(simulator):
    assert simulator.hostname == "localhost"
    with wsman(simulator) as connection:
        with RunspacePool(connection, configuration_name="Microsoft.Exchange") as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", "Unlimited")
            output = ps.invoke()
            assert not ps.had_errors, [str(e) for e in ps.streams.error]
            assert len(output) == 25
            names = {m.adapted_properties["SamAccountName"] for m in output}
            assert len(names) == 25
            # A second pipeline on the same sealed session.
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-MailboxDatabase")
            assert len(ps.invoke()) == 2
    # pypsrp sealed with the Negotiate protocol string.
    assert connection.transport.encryption.protocol == "application/HTTP-SPNEGO-session-encrypted"


def test_the_kerberos_scheme_seals_with_its_own_protocol_string(kerberos_only_simulator):
    with wsman(kerberos_only_simulator) as connection:
        with RunspacePool(connection, configuration_name="Microsoft.Exchange") as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Mailbox")
            assert len(ps.invoke()) == 25
            assert not ps.had_errors
    assert connection.transport.encryption.protocol == "application/HTTP-Kerberos-session-encrypted"


def http_exchange(port, request):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return head.decode("latin-1")


def test_a_clear_soap_body_after_authentication_is_refused(simulator):
    """Like WinRM with AllowUnencrypted=false: 500 for a message in clear."""
    client = spnego.client(hostname="localhost", service="HTTP", protocol="kerberos")
    token = base64.b64encode(client.step()).decode()
    body = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>"
    answer = http_exchange(
        simulator.port,
        (
            f"POST /PowerShell/ HTTP/1.1\r\nHost: localhost:{simulator.port}\r\n"
            f"Authorization: Kerberos {token}\r\n"
            "Content-Type: application/soap+xml;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body,
    )
    assert answer.startswith("HTTP/1.1 500"), answer
    # The mutual-authentication token comes with the refusal.
    assert "www-authenticate: kerberos " in answer.lower(), answer


def test_a_corrupted_token_is_refused(simulator):
    client = spnego.client(hostname="localhost", service="HTTP", protocol="kerberos")
    token = bytearray(client.step())
    token[-20] ^= 0xFF
    answer = http_exchange(
        simulator.port,
        (
            f"POST /PowerShell/ HTTP/1.1\r\nHost: localhost:{simulator.port}\r\n"
            f"Authorization: Negotiate {base64.b64encode(bytes(token)).decode()}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    assert answer.startswith("HTTP/1.1 401"), answer
