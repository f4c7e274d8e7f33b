"""Cut a transactions file into staged-chunk files with plain Python, for engine-level tests."""

from __future__ import annotations

from pathlib import Path


def cut_chunks(transactions: Path, chunk_rows: int, out_dir: Path) -> list[Path]:
    """Chunk k = data rows [k*chunk_rows, (k+1)*chunk_rows), each file with the header."""
    out_dir.mkdir(parents=True, exist_ok=True)
    header, *rows = transactions.read_text(encoding="utf-8").splitlines(keepends=True)
    paths = []
    for index, start in enumerate(range(0, len(rows), chunk_rows)):
        path = out_dir / f"chunk-{index:06d}.csv"
        path.write_text(header + "".join(rows[start : start + chunk_rows]), encoding="utf-8")
        paths.append(path)
    return paths
