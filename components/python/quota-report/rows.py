"""Decodes idconn batches (idconn:powershell/values@0.4.0) into Python values.

A batch carries every text of its objects in one UTF-8 byte list, `text`,
and every text value is a span (start, len) counted in BYTES of it. Slicing
the bytes first and decoding the slice is the only correct order: decoding
the whole list to a `str` and slicing that counts characters and cuts
non-ASCII text (an "é" is two bytes, one character) at the wrong place.

Values come packed (`record cells`): value i is `kinds[i]` (a byte) with
`payloads[i]` (a u64), as the table in
wit/since_v0.4.0/deps/powershell/powershell.wit says. A span is packed as
`start + (len << 32)`.
"""

import struct

NULL, TEXT, BOOLEAN, INTEGER, NUMBER, DATE_TIME, GUID, BYTES, OBJECT, LIST, DICTIONARY = range(11)
_MASK = (1 << 32) - 1


def _span(payload):
    return payload & _MASK, payload >> 32


def _text(batch, payload):
    start, length = _span(payload)
    return batch.text[start:start + length].decode("utf-8")


def _signed(payload):
    return payload - (1 << 64) if payload >= 1 << 63 else payload


def _cells(cells, start, length):
    return zip(cells.kinds[start:start + length], cells.payloads[start:start + length])


def cell(batch, kind, payload):
    """One value as a Python value: None, str, bool, int, float, bytes, a
    nested object's ToString text, a list, or a dict. A kind this helper
    does not know reads as None, as the contract asks."""
    if kind in (TEXT, DATE_TIME, GUID):
        return _text(batch, payload)
    if kind == BOOLEAN:
        return payload != 0
    if kind == INTEGER:
        return _signed(payload)
    if kind == NUMBER:
        return struct.unpack("<d", struct.pack("<Q", payload))[0]
    if kind == BYTES:
        start, length = _span(payload)
        return batch.binary[start:start + length]
    if kind == OBJECT:
        # Objects below the top level arrive as their type names and
        # ToString form; the ToString is what PowerShell prints.
        return batch.nested[payload].to_string
    if kind == LIST:
        start, length = _span(payload)
        return [cell(batch, k, p) for k, p in _cells(batch.items, start, length)]
    if kind == DICTIONARY:
        start, length = _span(payload)
        keys = batch.entry_keys[start:start + length]
        return {
            batch.text[key.start:key.start + key.len].decode("utf-8"): cell(batch, k, p)
            for key, (k, p) in zip(keys, _cells(batch.entry_values, start, length))
        }
    return None


def rows(batch):
    """Every object of a batch as a dict of property name -> value."""
    out = []
    for obj in batch.objects:
        names = batch.shapes[obj.shape].property_names
        s = obj.values
        values = _cells(batch.values, s.start, s.len)
        out.append({name: cell(batch, k, p) for name, (k, p) in zip(names, values)})
    return out


def pull(output, max_objects=512):
    """Every object of a running pipeline's output, batch by batch, as dicts.
    Raises `componentize_py_types.Err(shell.Error)` as `next` does."""
    while True:
        batch = output.next(max_objects)
        if batch is None:
            return
        for row in rows(batch):
            yield row
