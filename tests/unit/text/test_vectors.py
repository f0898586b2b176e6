"""The word-vectors reader (seqpipe.text.vectors): formats, matching, bad lines, bounded memory."""

from __future__ import annotations

import gzip

import pytest

from seqpipe.errors import DataError
from seqpipe.text import vectors as vectors_module
from seqpipe.text.vectors import VectorsError, coverage, dimension, read_vectors

ROWS = {"the": [0.1, 0.2, 0.3], "film": [1.0, -2.0, 3.5], "Good": [4.0, 5.0, 6.0], "bad": [-1.0, 0.0, 1e-3]}


def text(rows=ROWS, header=True, extra=()) -> str:
    lines = [f"{len(rows) + len(extra)} 3"] if header else []
    lines += [f"{word} {' '.join(repr(v) for v in values)}" for word, values in rows.items()]
    lines += list(extra)
    return "\n".join(lines) + "\n"


def test_rows_come_from_the_file_exact_match_first_then_lowercase(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(text(extra=["good 9 9 9"]), encoding="utf-8")  # exact 'good' after 'Good': exact wins
    found = read_vectors(path, ["the", "film", "good", "missing", "bad"])
    assert found.dim == 3 and found.lines == 5
    assert found.rows == {"the": [0.1, 0.2, 0.3], "film": [1.0, -2.0, 3.5], "good": [9.0, 9.0, 9.0],
                          "bad": [-1.0, 0.0, 1e-3]}
    assert found.lowercase_matches == 0
    path.write_text(text(), encoding="utf-8")  # only 'Good': the lowercase match
    found = read_vectors(path, ["good"])
    assert found.rows == {"good": [4.0, 5.0, 6.0]} and found.lowercase_matches == 1


def test_gzip_and_headerless_files_read_the_same(tmp_path):
    plain = tmp_path / "v.txt"
    plain.write_text(text(), encoding="utf-8")
    headerless = tmp_path / "v2.txt"
    headerless.write_text(text(header=False), encoding="utf-8")
    zipped = tmp_path / "v.vec"  # gzip recognised by its magic bytes, whatever the name
    zipped.write_bytes(gzip.compress(text(header=False).encode()))
    named = tmp_path / "v.txt.gz"
    named.write_bytes(gzip.compress(text().encode()))
    vocab = ["the", "film", "good", "bad", "nothing"]
    results = [read_vectors(p, vocab) for p in (plain, headerless, zipped, named)]
    assert all(r.rows == results[0].rows and r.dim == 3 for r in results)
    assert len(results[0].rows) == 4
    assert [dimension(p) for p in (plain, headerless, zipped, named)] == [3, 3, 3, 3]


def test_duplicate_words_first_wins(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("the 1 1\nthe 2 2\nThe 3 3\nTHE 4 4\nfilm 5 5\n", encoding="utf-8")
    assert read_vectors(path, ["the", "film"]).rows == {"the": [1.0, 1.0], "film": [5.0, 5.0]}
    path.write_text("THE 4 4\nThe 3 3\n", encoding="utf-8")  # no exact line: the first lowercase match
    assert read_vectors(path, ["the"]).rows == {"the": [4.0, 4.0]}


def test_only_vocabulary_rows_are_kept_and_parsed(tmp_path, monkeypatch):
    """Bounded memory: 20,000 other words stream past; only the vocabulary's rows are parsed and returned."""
    path = tmp_path / "big.txt"
    with open(path, "w", encoding="utf-8") as out:
        out.write("20002 3\n")
        for i in range(10_000):
            out.write(f"other{i} 1 2 3\n")
        out.write("the 7 8 9\n")
        for i in range(10_000):
            out.write(f"Other{i} 1 2 3\n")
        out.write("FILM 1 1 1\n")
    parsed = []
    original = vectors_module._values
    monkeypatch.setattr(vectors_module, "_values", lambda *a: parsed.append(a[1]) or original(*a))
    found = read_vectors(path, ["the", "film", "absent"])
    assert found.rows == {"the": [7.0, 8.0, 9.0], "film": [1.0, 1.0, 1.0]}
    assert found.lines == 20_002
    assert parsed == [10_002, 20_003]  # the line numbers of the two vocabulary rows, nothing else


@pytest.mark.parametrize("content, message", [
    ("3 4\nthe 1 2 3 4\nfilm 1 2 3\n", "v.txt:3: expected a word and 4 values; received 3 values"),
    ("2 4\nthe 1 2 3\n", "v.txt:2: expected a word and 4 values; received 3 values (the dimension is the header's)"),
    ("the 1 2 3\nfilm 1 2 3 4 5\n", "v.txt:2: expected a word and 3 values; received 5 values"),
    ("the 1 2 x\n", "v.txt:1: expected 3 numbers after the word; received 'x'"),
    ("", "v.txt: the file is empty; expected one word and its values per line"),
    ("\n\n", "v.txt: the file is empty; expected one word and its values per line"),
    ("5 3\n", "v.txt: no vectors after the header line; expected one word and 3 values per line"),
    ("lonely\n", "v.txt:1: expected a word followed by its values (or a header 'words dimension'); received 1 field"),
])
def test_bad_files_are_one_line_errors_naming_file_line_expected_and_received(tmp_path, content, message):
    path = tmp_path / "v.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(VectorsError) as info:
        read_vectors(path, ["the", "film"])
    assert str(info.value) == str(tmp_path / message)
    assert "\n" not in str(info.value) and isinstance(info.value, DataError)  # exit 2, no traceback


def test_a_bad_number_outside_the_vocabulary_is_not_parsed(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("the 1 2\nother 1 x\n", encoding="utf-8")
    assert read_vectors(path, ["the"]).rows == {"the": [1.0, 2.0]}


def test_words_that_are_not_utf8_are_skipped_and_counted(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"the 1 2\ncaf\xe9 3 4\nna\xefve 5 6\nfilm 7 8\n")
    found = read_vectors(path, ["the", "film", "café"])
    assert found.rows == {"the": [1.0, 2.0], "film": [7.0, 8.0]}
    assert (found.undecodable, found.first_undecodable) == (2, 2)


def test_missing_folder_and_damaged_gzip(tmp_path):
    with pytest.raises(VectorsError, match=r"nope\.txt: no such file$"):
        dimension(tmp_path / "nope.txt")
    with pytest.raises(VectorsError, match="is a folder"):
        dimension(tmp_path)
    broken = tmp_path / "v.txt.gz"
    broken.write_bytes(gzip.compress(text().encode())[:-12])  # truncated
    with pytest.raises(VectorsError, match="not a valid gzip file"):
        read_vectors(broken, ["the"])


def test_dimension_reads_the_first_lines_only(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("the 1 2 3 4 5\nbroken line\n", encoding="utf-8")
    assert dimension(path) == 5
    path.write_text("400000 300\nthe 1\n", encoding="utf-8")
    assert dimension(path) == 300


def test_coverage_of_vocabulary_and_tokens():
    vocabulary = ["[PAD]", "[UNK]", "the", "film", "good", "rare"]
    rows = {"the": [0.0], "good": [0.0]}
    counts = [0, 5, 10, 3, 2, 0]  # [UNK]'s 5 tokens count as not found
    vocab_share, token_share = coverage(vocabulary, rows, counts, reserved=("[PAD]", "[UNK]"))
    assert vocab_share == pytest.approx(2 / 4)
    assert token_share == pytest.approx(12 / 20)
    assert coverage(vocabulary, rows, None, ("[PAD]", "[UNK]")) == (pytest.approx(0.5), None)


def test_binary_files_and_endless_lines_stop_with_one_line(tmp_path, monkeypatch):
    import struct

    path = tmp_path / "v.bin"
    path.write_bytes(b"2 3\nthe " + struct.pack("3f", 0.5, 1e-9, 2.0) + b"\nfilm " + struct.pack("3f", 1, 2, 3))
    assert dimension(path) == 3  # the header is text
    with pytest.raises(VectorsError, match=r"v\.bin:2: expected a word and 3 values; received \d+ values? .*"
                                           r"a binary word2vec file\? seqpipe reads the text format$"):
        read_vectors(path, ["the"])
    monkeypatch.setattr(vectors_module, "MAX_LINE", 1000)
    endless = tmp_path / "endless.txt"
    endless.write_bytes(b"the " + b"1 " * 5000)
    with pytest.raises(VectorsError, match=r"endless\.txt:1: .*received more than 1,000 bytes without a line end"):
        dimension(endless)
