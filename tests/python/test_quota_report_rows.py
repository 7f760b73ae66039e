"""The Python connector's batch helper (components/python/quota-report/rows.py)
on batches built with the generated bindings of wit/since_v0.3.0, outside
wasm: spans are UTF-8 byte offsets into `text`, and non-ASCII text must come
out whole. The component itself runs against the simulator in
tests/e2e/tests/python.rs.
"""

import pathlib
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
            "-d", str(REPO / "wit" / "since_v0.3.0"), "-w", "connector",
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


def batch_of(values, objects):
    """A batch of objects given as lists of (name, python value)."""
    text = bytearray()
    cells, nested, items = [], [], []

    def span(s):
        start = len(text)
        text.extend(s.encode("utf-8"))
        return values.Span(start, len(text) - start)

    def cell(v):
        if v is None:
            return values.Cell_Null()
        if isinstance(v, bool):
            return values.Cell_Boolean(v)
        if isinstance(v, int):
            return values.Cell_Integer(v)
        if isinstance(v, tuple):  # a nested object: (type name, ToString)
            nested.append(values.NestedObject([v[0]], v[1]))
            return values.Cell_Object(len(nested) - 1)
        if isinstance(v, list):
            start = len(items)
            items.extend(cell(x) for x in v)
            return values.Cell_List(values.Span(start, len(v)))
        return values.Cell_Text(span(v))

    names = [n for n, _ in objects[0]]
    batch_objects = []
    for obj in objects:
        start = len(cells)
        cells.extend(cell(v) for _, v in obj)
        batch_objects.append(values.BatchObject(0, None, values.Span(start, len(obj))))
    return values.Batch(
        [values.Shape(["System.Management.Automation.PSCustomObject"], names)],
        batch_objects, cells, items, [], nested, bytes(text), b"",
    )


def test_non_ascii_text_comes_out_whole(bindings):
    rows, values = bindings
    objects = [
        [("DisplayName", "Zoë Søren"), ("PrimarySmtpAddress", "zoe@contoso.com"),
         ("UseDatabaseQuotaDefaults", False),
         ("ProhibitSendQuota", ("Microsoft.Exchange.Data.Unlimited", "2 GB (2,147,483,648 bytes)")),
         ("Aliases", ["さくら", "Þóra"])],
        [("DisplayName", "さくら Αλέξανδρος"), ("PrimarySmtpAddress", "sakura@contoso.com"),
         ("UseDatabaseQuotaDefaults", True), ("ProhibitSendQuota", "Unlimited"),
         ("Aliases", [])],
    ]
    batch = batch_of(values, objects)
    assert rows.rows(batch) == [
        {"DisplayName": "Zoë Søren", "PrimarySmtpAddress": "zoe@contoso.com",
         "UseDatabaseQuotaDefaults": False, "ProhibitSendQuota": "2 GB (2,147,483,648 bytes)",
         "Aliases": ["さくら", "Þóra"]},
        {"DisplayName": "さくら Αλέξανδρος", "PrimarySmtpAddress": "sakura@contoso.com",
         "UseDatabaseQuotaDefaults": True, "ProhibitSendQuota": "Unlimited", "Aliases": []},
    ]


def test_character_slicing_would_cut_the_text(bindings):
    """What 0.2.0 invited: decoding the whole text and slicing it by the
    byte offsets. The helper must not do that; this shows why."""
    _, values = bindings
    batch = batch_of(values, [[("A", "Zoë"), ("B", "zoe@contoso.com")]])
    span = batch.values[1].value
    wrong = batch.text.decode("utf-8")[span.start:span.start + span.len]
    assert wrong != "zoe@contoso.com"
