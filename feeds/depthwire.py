"""Diff-depth frames decoded straight into typed events by msgspec (the market stream's hot path).

Depth is most of what the market stream carries (10 frames a second per book, more in a fast
market). ``orjson.loads`` + ``unwrap_combined`` + ``DepthUpdate.from_wire`` builds a dict per
frame and per event and then checks and copies every field in Python; msgspec's typed decoder
checks the same types while it parses and builds the event object directly, about 4x faster
(``bench decode``). It is a well-kept library doing better what our own code did, so it is a
core dependency.

:func:`decode_depth_frame` is strict and never guesses: anything it does not accept as it is (a
missing or mistyped field, an event type other than ``depthUpdate``, a level that is not two
strings, a frame that is not a combined depth frame) returns ``None`` and the caller decodes the
frame the general way, whose errors name the problem exactly as before. Prices and quantities
stay the strings received (the order book turns them into integer ticks and Decimals); no
number on the wire ever becomes a float here: a price or quantity sent as a JSON number fails
the ``str`` type and goes the general way, which rejects it.

Where the order book's C loops are in use (``feeds._bookc``), a side's levels are not made into
Python objects at all: :class:`RawDepthEvent` keeps each side as the JSON text received (a
``msgspec.Raw``, a view of the frame's bytes), and the C loop reads the prices and sizes from
it, making a ``str`` only for a text no cache answers. That is taken only for a side in the
compact form the venue writes (``_bookc.compact_levels``: ``[["9517.6","10"],...]``, no
whitespace, each text digits and points); any other frame is decoded into lists as above, so
what is declined, and why, is unchanged. About a third of the event's cost on the book's path
was building and freeing those ~50 objects (``bench book``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DepthEvent", "RawDepthEvent", "decode_depth_frame", "levels_of"]

import msgspec

from feeds import book as _book


class DepthEvent(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="depthUpdate"):
    """A ``depthUpdate`` event with :class:`feeds.models.DepthUpdate`'s field names.

    ``bids``/``asks`` are the ``(price_str, qty_str)`` pairs as received (tuples here, lists in
    ``DepthUpdate``: the order book reads both the same way). ``gc=False``: made of ints,
    strings and lists of string pairs, an event cannot be part of a cycle.
    """

    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    pair: str = msgspec.field(name="ps")
    first_update_id: int = msgspec.field(name="U")
    """``U``: first update id in the event."""
    final_update_id: int = msgspec.field(name="u")
    """``u``: final update id in the event."""
    prev_final_update_id: int = msgspec.field(name="pu")
    """``pu``: the previous event's ``u``; a mismatch means a gap."""
    bids: list[tuple[str, str]] = msgspec.field(name="b")
    asks: list[tuple[str, str]] = msgspec.field(name="a")


class RawDepthEvent(DepthEvent, frozen=True, gc=False, tag="depthUpdate"):
    """A :class:`DepthEvent` whose ``bids``/``asks`` are the JSON text of each side as received
    (``msgspec.Raw``, compact: see the module's docstring), for the order book's C loops, which
    read them in place. :func:`levels_of` gives the pairs."""

    bids: msgspec.Raw = msgspec.field(name="b")  # type: ignore[assignment]
    asks: msgspec.Raw = msgspec.field(name="a")  # type: ignore[assignment]


class _CombinedDepth(msgspec.Struct, gc=False):
    stream: str
    data: DepthEvent


class _CombinedRawDepth(msgspec.Struct, gc=False):
    stream: str
    data: RawDepthEvent


_decode = msgspec.json.Decoder(_CombinedDepth).decode
_decode_raw = msgspec.json.Decoder(_CombinedRawDepth).decode
_decode_levels = msgspec.json.Decoder(list[tuple[str, str]]).decode
_errors = (msgspec.DecodeError, msgspec.ValidationError, TypeError)


def levels_of(levels: Any) -> list[tuple[str, str]]:
    """A side's ``(price_str, qty_str)`` pairs, whether decoded (a list) or kept as JSON text."""
    return _decode_levels(levels) if isinstance(levels, msgspec.Raw) else list(levels)


def decode_depth_frame(frame: Any) -> tuple[str, Any] | None:
    """``(stream, DepthEvent)`` for a well-formed combined diff-depth frame, else ``None``.

    Only bytes frames with ``@depth`` in their first 96 bytes (where the venue and the simulator
    write the stream's name) are tried; any other frame costs one search of those bytes.
    """
    try:
        if frame.find(b"@depth", 11, 96) < 0:
            return None
        native = _book._bookc  # (read each time: tests and the bench switch the loops)
        if native is not None:
            raw = _decode_raw(frame)
            ev = raw.data
            if native.compact_levels(ev.bids, ev.asks):
                stream = raw.stream
                return (stream, ev) if "@depth" in stream else None
        msg = _decode(frame)
    except _errors:  # TypeError: a text frame (str)
        return None
    stream = msg.stream
    return (stream, msg.data) if "@depth" in stream else None
