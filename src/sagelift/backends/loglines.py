"""A job's output as lines for streaming, in memory bounded whatever the output's shape.

The log file keeps every byte the job wrote; this only decides how a follower cuts it into
lines: at ``\\n``, ``\\r\\n`` and a lone ``\\r`` (a progress bar redrawing itself, each redraw
then a line of its own, as CloudWatch shows it), and a line longer than ``max_bytes`` in pieces
of at most that many bytes, cut between two UTF-8 characters.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LINE_BYTES", "LineSplitter"]

#: The longest piece of one line a follower emits at once.
MAX_LINE_BYTES = 64 * 1024

_BREAK = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    """Bytes in, text lines out (``feed``, then ``close`` at the end of the output).

    Holds at most ``max_bytes`` of an unfinished line. Empty lines ended by ``\\n`` are kept;
    an empty redraw (``\\r`` right after a break) is dropped. Invalid UTF-8 becomes U+FFFD.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        if max_bytes < 4:
            raise ValueError("max_bytes must hold one UTF-8 character")
        self._max = max_bytes
        self._pending = bytearray()
        self._after_cr = False  # the last break was a lone \r that may be half of \r\n
        self._cut = False  # the current line was already emitted in part

    def feed(self, data: bytes) -> list[str]:
        """The lines (and pieces of over-long lines) that ``data`` completes."""
        lines: list[str] = []
        start = 0
        for match in _BREAK.finditer(data):
            self._take(data[start : match.start()], lines)
            start = match.end()
            self._end_line(match.group(), lines)
        if start < len(data):
            self._take(data[start:], lines)
        return lines

    def close(self) -> list[str]:
        """The unfinished last line, if any."""
        lines: list[str] = []
        if self._pending:
            lines.append(self._decode(bytes(self._pending)))
            self._pending.clear()
        self._cut = self._after_cr = False
        return lines

    def _take(self, segment: bytes, lines: list[str]) -> None:
        if not segment:
            return
        self._after_cr = False
        self._pending += segment
        while len(self._pending) > self._max:
            cut = self._boundary()
            lines.append(self._decode(bytes(self._pending[:cut])))
            del self._pending[:cut]
            self._cut = True

    def _end_line(self, brk: bytes, lines: list[str]) -> None:
        if self._pending:
            lines.append(self._decode(bytes(self._pending)))
            self._pending.clear()
        elif not (self._cut or brk == b"\r" or (brk == b"\n" and self._after_cr)):
            lines.append("")
        self._cut = False
        self._after_cr = brk == b"\r"

    def _boundary(self) -> int:
        """Where to cut the pending bytes: ``max_bytes`` or just before, never inside a
        character (a UTF-8 continuation byte is 0b10xxxxxx)."""
        cut = self._max
        while cut > self._max - 3 and self._pending[cut] & 0xC0 == 0x80:
            cut -= 1
        return cut if self._pending[cut] & 0xC0 != 0x80 else self._max

    @staticmethod
    def _decode(raw: bytes) -> str:
        return raw.decode("utf-8", errors="replace")
