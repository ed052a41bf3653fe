"""gtpipe_shared.dataset.with_corrections: the reviewed lines into a dataset manifest, byte for byte."""

from __future__ import annotations

from gtpipe_shared.dataset import with_corrections

GIVEN = b'{"source-ref":"s3://b/a.png","category":3}'
REVIEWED = b'{"source-ref":"s3://b/a.png","category":9,"category-verification":"0"}'
OTHER = b'{"source-ref":"s3://b/b.png","category":1}'
RELABELED = b'{"source-ref":"s3://b/a.png","category":4}'


def test_a_line_the_run_read_is_replaced_by_its_reviewed_line_and_others_are_kept() -> None:
    # Given a dataset holding the run's line of a.png, another line and a blank line
    # When corrected / Then a.png's line is the reviewed one, b.png's is kept, the blank line dropped
    assert with_corrections([OTHER, GIVEN, b"  "], {GIVEN: REVIEWED}) == ([OTHER, REVIEWED], 1)


def test_a_line_a_later_run_rewrote_is_not_replaced() -> None:
    # Given a dataset where a later run relabeled a.png / When corrected / Then that run's line stays
    assert with_corrections([RELABELED, OTHER], {GIVEN: REVIEWED}) == ([RELABELED, OTHER], 0)
