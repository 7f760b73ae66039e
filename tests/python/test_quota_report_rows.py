"""The Python connector's batch helper (components/python/quota-report/rows.py)
on batches built with the generated bindings of wit/since_v0.4.0, outside
wasm: spans are UTF-8 byte offsets into `text`, and non-ASCII text must come
out whole. The component itself runs against the simulator in
tests/e2e/tests/python.rs.
"""

import pathlib
import struct
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
APP = REPO / "components" / "python" / "quota-report"


@pytest.fixture(scope="module")
def bindings(tmp_path_factory):
    out = tmp_path_factory.mktemp("bindings")
    subprocess.run(
        [
            sys.executable, "-c",
            "import sys; from componentize_py import script; "
            "sys.argv[0] = 'componentize-py'; sys.exit(script())",
            "-d", str(REPO / "wit" / "since_v0.4.0"), "-w", "connector",
            "bindings", str(out),
        ],
        check=True,
    )
    sys.path[:0] = [str(out), str(APP)]
    import rows
    from wit_world.imports import values

    yield rows, values
    sys.path.remove(str(out))
    sys.path.remove(str(APP))


def packed(start, length):
    return start | (length << 32)


def batch_of(values, objects):
    """A batch of objects given as lists of (name, python value), its values
    packed as the 0.4.0 contract's table says (kind byte, u64 payload)."""
    text = bytearray()
    cells, nested, items = [], [], []
    keys, entry_values = [], []

    def span(s):
        start = len(text)
        text.extend(s.encode("utf-8"))
        return start, len(text) - start

    def cell(v):
        if v is None:
            return (0, 0)
        if isinstance(v, bool):
            return (2, int(v))
        if isinstance(v, int):
            return (3, v & ((1 << 64) - 1))
        if isinstance(v, float):
            return (4, struct.unpack("<Q", struct.pack("<d", v))[0])
        if isinstance(v, tuple):  # a nested object: (type name, ToString)
            nested.append(values.NestedObject([v[0]], v[1]))
            return (8, len(nested) - 1)
        if isinstance(v, list):
            start = len(items)
            items.extend(cell(x) for x in v)
            return (9, packed(start, len(v)))
        if isinstance(v, dict):
            start = len(keys)
            for key, value in v.items():
                keys.append(values.Span(*span(key)))
                entry_values.append(cell(value))
            return (10, packed(start, len(v)))
        return (1, packed(*span(v)))

    def cells_of(pairs):
        return values.Cells(bytes(k for k, _ in pairs), [p for _, p in pairs])

    names = [n for n, _ in objects[0]]
    batch_objects = []
    for obj in objects:
        start = len(cells)
        cells.extend(cell(v) for _, v in obj)
        batch_objects.append(values.BatchObject(0, None, values.Span(start, len(obj))))
    return values.Batch(
        [values.Shape(["System.Management.Automation.PSCustomObject"], names)],
        batch_objects, cells_of(cells), cells_of(items), keys, cells_of(entry_values),
        nested, bytes(text), b"",
    )


def test_non_ascii_text_comes_out_whole(bindings):
    rows, values = bindings
    objects = [
        [("DisplayName", "Zoë Søren"), ("PrimarySmtpAddress", "zoe@contoso.com"),
         ("UseDatabaseQuotaDefaults", False),
         ("ProhibitSendQuota", ("Microsoft.Exchange.Data.Unlimited", "2 GB (2,147,483,648 bytes)")),
         ("Aliases", ["さくら", "Þóra"]), ("Count", -3),
         ("Limits", {"Ä": 0.5, "b": [1, None]})],
        [("DisplayName", "さくら Αλέξανδρος"), ("PrimarySmtpAddress", "sakura@contoso.com"),
         ("UseDatabaseQuotaDefaults", True), ("ProhibitSendQuota", "Unlimited"),
         ("Aliases", []), ("Count", 2**63 - 1), ("Limits", {})],
    ]
    batch = batch_of(values, objects)
    assert rows.rows(batch) == [
        {"DisplayName": "Zoë Søren", "PrimarySmtpAddress": "zoe@contoso.com",
         "UseDatabaseQuotaDefaults": False, "ProhibitSendQuota": "2 GB (2,147,483,648 bytes)",
         "Aliases": ["さくら", "Þóra"], "Count": -3, "Limits": {"Ä": 0.5, "b": [1, None]}},
        {"DisplayName": "さくら Αλέξανδρος", "PrimarySmtpAddress": "sakura@contoso.com",
         "UseDatabaseQuotaDefaults": True, "ProhibitSendQuota": "Unlimited", "Aliases": [],
         "Count": 2**63 - 1, "Limits": {}},
    ]


def test_a_kind_the_helper_does_not_know_reads_as_none(bindings):
    rows, values = bindings
    batch = batch_of(values, [[("A", "x"), ("B", True)]])
    batch.values.kinds = bytes([200, 2])
    assert rows.rows(batch) == [{"A": None, "B": True}]


def test_character_slicing_would_cut_the_text(bindings):
    """What 0.2.0 invited: decoding the whole text and slicing it by the
    byte offsets. The helper must not do that; this shows why."""
    _, values = bindings
    batch = batch_of(values, [[("A", "Zoë"), ("B", "zoe@contoso.com")]])
    payload = batch.values.payloads[1]
    start, length = payload & 0xFFFFFFFF, payload >> 32
    wrong = batch.text.decode("utf-8")[start:start + length]
    assert wrong != "zoe@contoso.com"
