"""The stream report before anything was applied: a valid page that says so, nothing fetched."""

from __future__ import annotations

from txn_assets.lib.report import write_report
from txn_assets_tests.report_html import detection_rows, external_references, images


def test_a_report_of_an_empty_stream_has_its_plots_and_an_empty_table(conn, tmp_path):
    path = write_report(conn, tmp_path / "nested" / "report.html")
    assert path == tmp_path / "nested" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert len(images(text)) == 4
    assert external_references(text) == []
    assert detection_rows(text) == {}
    assert [p.name for p in path.parent.iterdir()] == ["report.html"], "no temporary file left"
