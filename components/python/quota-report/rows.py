"""Decodes idconn batches (idconn:powershell/values@0.3.0) into Python values.

A batch carries every text of its objects in one UTF-8 byte list, `text`,
and every text value is a span (start, len) counted in BYTES of it. Slicing
the bytes first and decoding the slice is the only correct order: decoding
the whole list to a `str` and slicing that counts characters and cuts
non-ASCII text (an "é" is two bytes, one character) at the wrong place.
"""

from wit_world.imports import values as v


def _text(batch, span):
    return batch.text[span.start:span.start + span.len].decode("utf-8")


def cell(batch, c):
    """One cell as a Python value: None, str, bool, int, float, bytes, a
    nested object's ToString text, a list, or a dict."""
    if isinstance(c, v.Cell_Null):
        return None
    if isinstance(c, (v.Cell_Text, v.Cell_DateTime, v.Cell_Guid)):
        return _text(batch, c.value)
    if isinstance(c, (v.Cell_Boolean, v.Cell_Integer, v.Cell_Number)):
        return c.value
    if isinstance(c, v.Cell_Bytes):
        return batch.binary[c.value.start:c.value.start + c.value.len]
    if isinstance(c, v.Cell_Object):
        # Objects below the top level arrive as their type names and
        # ToString form; the ToString is what PowerShell prints.
        return batch.nested[c.value].to_string
    if isinstance(c, v.Cell_List):
        s = c.value
        return [cell(batch, item) for item in batch.items[s.start:s.start + s.len]]
    if isinstance(c, v.Cell_Dictionary):
        s = c.value
        return {
            _text(batch, e.key): cell(batch, e.value)
            for e in batch.entries[s.start:s.start + s.len]
        }
    raise ValueError("unknown cell kind: %s" % type(c).__name__)


def rows(batch):
    """Every object of a batch as a dict of property name -> value."""
    out = []
    for obj in batch.objects:
        names = batch.shapes[obj.shape].property_names
        s = obj.values
        cells = batch.values[s.start:s.start + s.len]
        out.append({name: cell(batch, c) for name, c in zip(names, cells)})
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
