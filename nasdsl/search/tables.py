r"""Benchmark tables read safely: a CSV (gzipped if its name ends in .gz) keyed by NAS-Bench-201
string (`arch` column), streamed from a regular file and held to bounds on decompressed text,
line length, columns, rows and cells as it is read, so a small hostile file cannot take the
machine's memory or time. The table evaluator, `nasdsl fit-latency` and the benchmarks read
tables with `read_table`.

Example::

    >>> import gzip, tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "t.csv.gz"
    >>> _ = path.write_bytes(gzip.compress(b"arch,acc,note\n|a~0|,0.5,x\n"))
    >>> read_table(path)
    ({'|a~0|': {'acc': 0.5}}, ['acc', 'note'])
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

from ..errors import NasError
from ..limits import open_regular, os_reason, show_path
from ..text import printable

# A table is read as a stream and held to these while it is read, so a small compressed file
# cannot expand into gigabytes or a header of a million columns (NAS-Bench-101, the largest
# benchmark table, has 423,624 rows and a dozen columns).
MAX_TABLE_BYTES = 512 * 2**20     # decompressed text
MAX_TABLE_LINE = 64 * 2**10       # characters in one line
MAX_TABLE_COLUMNS = 1_000
MAX_TABLE_ROWS = 2_000_000
MAX_TABLE_CELLS = 20_000_000      # rows x numeric columns held in memory


def bounded_lines(stream, shown: str):
    """The lines of a text stream, refusing one over `MAX_TABLE_LINE` characters or a total
    over `MAX_TABLE_BYTES`, each as soon as it is met (before the rest is read)."""
    total = 0
    while True:
        line = stream.readline(MAX_TABLE_LINE + 1)
        if not line:
            return
        if len(line) > MAX_TABLE_LINE:
            raise NasError(f"table {shown} has a line over {MAX_TABLE_LINE:,} characters")
        total += len(line)
        if total > MAX_TABLE_BYTES:
            raise NasError(f"table {shown} is over {MAX_TABLE_BYTES:,} characters once decompressed")
        yield line


def read_table(path: Path) -> tuple[dict[str, dict[str, float]], list[str]]:
    """The rows of a CSV table (gzipped if its name ends in .gz) by `arch`, held to the
    MAX_TABLE_* bounds while streaming; each row keeps its numeric cells."""
    shown = show_path(path)
    try:
        with open_regular(path, "table") as raw:
            binary = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            stream = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            reader = csv.reader(bounded_lines(stream, shown))
            fields = next(reader, [])
            if len(fields) > MAX_TABLE_COLUMNS:
                raise NasError(f"table {shown} has {len(fields):,} columns, the limit is {MAX_TABLE_COLUMNS:,}")
            if "arch" not in fields:
                listed = printable(", ".join(fields), one_line=True)[:200]
                raise NasError(f"table {shown} has no `arch` column (NAS-Bench-201 strings); columns: {listed}")
            key = fields.index("arch")
            numeric = [c for c in fields if c not in ("arch", "index")]
            where = [fields.index(c) for c in numeric]
            rows: dict[str, dict[str, float]] = {}
            for number, line in enumerate(reader, start=1):
                if number > MAX_TABLE_ROWS or number * len(numeric) > MAX_TABLE_CELLS:
                    raise NasError(f"table {shown} has over {min(MAX_TABLE_ROWS, MAX_TABLE_CELLS // len(numeric)):,} "
                                   f"rows (limits: {MAX_TABLE_ROWS:,} rows, {MAX_TABLE_CELLS:,} cells)")
                if len(line) <= key:
                    continue
                values = {}
                for c, i in zip(numeric, where):
                    try:
                        values[c] = float(line[i])
                    except (IndexError, ValueError):
                        continue
                rows[line[key]] = values
    except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise NasError(f"table {shown} is not a readable CSV file ({printable(str(err), one_line=True)[:160]})") from None
    except OSError as err:
        raise NasError(f"cannot read table {shown}: {os_reason(err)}") from None
    return rows, numeric
