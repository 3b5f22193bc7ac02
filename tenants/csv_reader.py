"""Reading a contacts CSV line by line, so that one bad line costs that line only, reported where it is.

The file is read as bytes, one physical line at a time (never more than `MAX_RECORD_BYTES` of it held), and
each line is decoded on its own: a Latin-1 byte or a NUL makes its row a `RowError` on its true line, and the
rows after it are read as usual. A row is one CSV record, which may span lines inside a quoted field (an
address with line breaks). A quote that is never closed would swallow the rest of the file into one field:
instead, a record that runs past `MAX_RECORD_BYTES`, or that the strict CSV reader finds malformed, is
reported on the line where it starts, and reading starts again on the next line. Only an unreadable header
stops the file (`ImportFileError`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

#: The longest row we read (the longest valid one is a few KB); longer is an oversized field or a lost quote.
MAX_RECORD_BYTES = 64 * 1024
_SKIP_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"

# Accepted spellings of each column (lowercased, spaces and dashes read as underscores).
COLUMN_ALIASES = {
    "email": {"email", "email_address", "e_mail"},
    "first_name": {"first_name", "firstname", "forename", "given_name"},
    "last_name": {"last_name", "lastname", "surname", "family_name"},
    "phone": {"phone", "phone_number", "telephone", "mobile"},
    "address": {"address"},
    "category": {"category"},
    "agent_email": {"assigned_agent_email", "agent_email", "assigned_agent"},
}
REQUIRED_COLUMNS = ("email", "first_name", "last_name")


class ImportFileError(ValueError):
    """The file cannot be imported as a whole (empty, unreadable header, missing columns); the message says why."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass(frozen=True)
class _Line:
    number: int
    data: bytes  # b"" when oversized (the bytes were skipped, not kept)
    oversized: bool = False


class _RecordTooLong(Exception):
    """A record grew past MAX_RECORD_BYTES while the CSV reader asked for more lines."""


class _PhysicalLines:
    """A binary stream's lines with their numbers, held at most `limit` bytes at a time; lines can be put back
    (to read again after a record that turned out broken)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.number = 0
        self.put_back: list[_Line] = []

    def next(self) -> _Line | None:
        if self.put_back:
            return self.put_back.pop()
        data = self.stream.readline(self.limit + 1)
        if not data:
            return None
        self.number += 1
        if self.number == 1 and data.startswith(_BOM):
            data = data[len(_BOM) :]
        if len(data) > self.limit and not data.endswith(b"\n"):
            while (rest := self.stream.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass  # the rest of an oversized line is skipped, never held
            return _Line(self.number, b"", oversized=True)
        return _Line(self.number, data)

    def again(self, lines: list[_Line]) -> None:
        self.put_back.extend(reversed(lines))


def _decoded(line: _Line) -> tuple[str, RowError | None]:
    """The line as text and, if it is not clean UTF-8 without NUL, why (its row is then reported, not stored)."""
    problem = None
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = line.data[error.start]
        problem = RowError(line.number, f"not UTF-8 (byte 0x{byte:02X} at column {error.start + 1}): save as UTF-8")
        text = line.data.decode("utf-8", errors="replace")
    if "\x00" in text:
        problem = problem or RowError(line.number, f"contains a NUL character (column {text.index(chr(0)) + 1})")
        text = text.replace("\x00", "\ufffd")
    return text, problem


def _record_text(
    lines: _PhysicalLines, first: _Line, taken: list[_Line], problems: list[RowError], limit: int
) -> Iterator[str]:
    """The text lines of one record as the CSV reader asks for them, noting each line taken and each decoding
    problem; past `limit` bytes it stops with _RecordTooLong."""
    size = len(first.data)
    text, problem = _decoded(first)
    problems.extend([problem] if problem else [])
    yield text
    while (line := lines.next()) is not None:
        taken.append(line)
        size += len(line.data)
        if line.oversized or size > limit:
            raise _RecordTooLong
        text, problem = _decoded(line)
        problems.extend([problem] if problem else [])
        yield text


def records(stream: IO[bytes], *, limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, list[str]] | RowError]:
    """(first line, values) for each CSV record, or a RowError for one that cannot be read; never raises for a
    bad record."""
    lines = _PhysicalLines(stream, limit)
    while (first := lines.next()) is not None:
        if first.oversized:
            yield RowError(first.number, f"longer than {limit // 1024} KB (an oversized field): row skipped")
            continue
        taken: list[_Line] = [first]
        problems: list[RowError] = []

        reader = csv.reader(_record_text(lines, first, taken, problems, limit), strict=True)
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, _RecordTooLong) as error:
            lines.again(taken[1:])  # the lines after the start are read again as rows of their own
            if isinstance(error, _RecordTooLong):
                reason = f"a quote opened on this line is not closed within {limit // 1024} KB"
            elif len(taken) > 1:
                reason = f"a quote opened on this line is not closed properly ({error})"
            else:
                reason = f"broken quoting ({error})"
            yield RowError(first.number, f"{reason}: row skipped")
            continue
        yield problems[0] if problems else (first.number, values)


def _column_map(header: list[str]) -> dict[str, int]:
    normalised = [name.strip().lower().replace(" ", "_").replace("-", "_") for name in header]
    mapping: dict[str, int] = {}
    for column, aliases in COLUMN_ALIASES.items():
        for index, clean in enumerate(normalised):
            if clean in aliases and column not in mapping:
                mapping[column] = index
    missing = [column.replace("_", " ") for column in REQUIRED_COLUMNS if column not in mapping]
    if missing:
        raise ImportFileError(f"line 1: missing required column(s): {', '.join(missing)} (header: {header})")
    return mapping


def read_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str]] | RowError]:
    """(line where the row starts, {column: value}) for each data row, or a RowError for an unreadable one."""
    found = records(stream)
    header = next(found, None)
    if header is None:
        raise ImportFileError("the file is empty (a header row is required)")
    if isinstance(header, RowError):
        raise ImportFileError(f"line 1: the header cannot be read ({header.reason})")
    positions = _column_map(header[1])
    for record in found:
        if isinstance(record, RowError):
            yield record
            continue
        start, values = record
        if not any(value.strip() for value in values):
            continue  # blank line
        yield (
            start,
            {column: values[index].strip() if index < len(values) else "" for column, index in positions.items()},
        )


def open_csv(path: str) -> IO[bytes]:
    """The file as bytes: each line is decoded on its own (a BOM is skipped), so a bad byte costs one row."""
    return open(path, "rb")
