"""Typed decoding of JSON annotation files with ``msgspec``.

A multi-label dataset needs a few fields of its annotation file: of COCO's
``instances_*.json`` (the "Object Detection" format of
https://cocodataset.org/#format-data) only ``images[].{id, file_name}``,
``annotations[].{image_id, category_id, iscrowd}`` and
``categories[].{id, name}``; the polygons, RLE masks and boxes are most of
the bytes. ``msgspec`` (https://jcristharif.com/msgspec/) decodes JSON
(RFC 8259) straight into :class:`msgspec.Struct` types and skips every field
a type does not declare without building Python objects for it, so decoding
costs a fraction of ``json.load``.

The typed decode is the fast path only. A dataset that uses it keeps its
``json.load`` validation as the reference: when msgspec refuses a file
(malformed JSON, a missing field, a value of the wrong type), the dataset
runs its reference validation, which raises its own
:class:`~mmcsra.datasets.errors.AnnotationError` naming the file and the
entry (the msgspec error is kept as ``__cause__``). A file msgspec refuses
but the reference accepts (``NaN`` in a field nobody reads: Python's
``json`` accepts it, RFC 8259 does not) is then read through the reference
path, so such files load as before.
"""
import contextlib
import gc
from typing import Any, Tuple, Type

import msgspec

__all__ = ['DECODE_ERRORS', 'decode_json_file', 'decoder_for', 'gc_paused']

#: What :func:`decode_json_file` raises on a file that is not JSON of the
#: expected type (``msgspec.ValidationError`` is a ``DecodeError``), or not
#: UTF-8.
DECODE_ERRORS: Tuple[Type[Exception],
                     ...] = (msgspec.DecodeError, UnicodeDecodeError)

_DECODERS: dict = {}


def decoder_for(type_: Any) -> msgspec.json.Decoder:
    """A cached ``msgspec.json.Decoder`` of ``type_`` (building one
    compiles the type, cheap but not free)."""
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return decoder


def decode_json_file(path: str, type_: Any) -> Any:
    """Decode the JSON file ``path`` as ``type_``.

    The file must be UTF-8, as ``json.load(open(path, encoding='utf-8'))``
    requires (RFC 8259, section 8.1). msgspec checks the encoding only of the
    strings it decodes, so a file with non-ASCII bytes is decoded to ``str``
    first: an invalid byte in a skipped field is refused as ``json`` refuses
    it. An all-ASCII file (the official COCO files) is valid UTF-8 as is.

    Raises:
        OSError: the file can not be read.
        msgspec.DecodeError: not JSON (``msgspec.ValidationError``: JSON not
            matching ``type_``).
        UnicodeDecodeError: not UTF-8.
    """
    with open(path, 'rb') as f:
        buf = f.read()
    if not buf.isascii():
        buf = buf.decode('utf-8')
    return decoder_for(type_).decode(buf)


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector inside the ``with`` block.

    Building the data list of a large annotation file creates ~10^6
    containers (dicts, lists, tuples) and no reference cycle. Each time
    allocations pass a threshold the collector traverses the young objects,
    and now and then the whole heap (``gc`` module documentation, "the
    generational collector"): a third of the time of building COCO-2014
    train's list with torch imported. Reference counting still frees
    everything as usual; the collector is enabled again on exit if it was
    enabled on entry.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
