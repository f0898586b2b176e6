"""Reading CSV, TSV, JSONL and text files into role columns, and every error message."""

from __future__ import annotations

import pytest

from seqpipe.data.readers import read_table
from seqpipe.errors import DataError

ROLES = ["text", "label"]
SKIP = " (data.on_error: skip drops such rows)"


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def records(df):
    return df.to_dict("records")


def error(path, **kwargs):
    kwargs.setdefault("roles", ROLES)
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    return str(info.value)


# --- formats -----------------------------------------------------------------------

def test_csv_with_header_quotes_bom_and_extra_columns(tmp_path):
    path = write(tmp_path, "x.csv",
                 '\ufeffid,label,text\n1,pos, "great, really"\n2,neg,"two\nlines"\n')
    df = read_table(path, roles=["text", "label"])
    assert list(df.columns) == ["text", "label"]
    assert [str(t) for t in df.dtypes] == ["str", "str"]
    assert records(df) == [{"text": "great, really", "label": "pos"},
                           {"text": "two\nlines", "label": "neg"}]


def test_csv_columns_map_roles_to_names_and_indices(tmp_path):
    path = write(tmp_path, "x.csv", "review,stars\nfine,4\nbad,1\n")
    by_name = read_table(path, roles=ROLES, columns={"text": "review", "label": "stars"})
    by_index = read_table(path, roles=ROLES, columns={"text": 0, "label": 1})
    assert records(by_name) == records(by_index) == [{"text": "fine", "label": "4"},
                                                     {"text": "bad", "label": "1"}]


def test_csv_without_header_takes_roles_in_order_or_by_index(tmp_path):
    path = write(tmp_path, "x.csv", "fine,4\nbad,1\n")
    assert records(read_table(path, roles=ROLES, header=False)) == [
        {"text": "fine", "label": "4"}, {"text": "bad", "label": "1"}]
    swapped = read_table(path, roles=ROLES, header=False, columns={"text": 1, "label": 0})
    assert records(swapped) == [{"text": "4", "label": "fine"}, {"text": "1", "label": "bad"}]


@pytest.mark.parametrize("name", ["x.tsv", "x.tab", "X.TSV"])
def test_tsv_is_unquoted(tmp_path, name):
    path = write(tmp_path, name, 'text\tlabel\n"quoted" start\tpos\r\nit\'s, fine\tneg\n')
    assert records(read_table(path, roles=ROLES)) == [{"text": '"quoted" start', "label": "pos"},
                                                      {"text": "it's, fine", "label": "neg"}]


@pytest.mark.parametrize("name", ["x.jsonl", "x.ndjson"])
def test_jsonl_converts_numbers_and_maps_keys(tmp_path, name):
    path = write(tmp_path, name,
                 '{"body": "hi", "stars": 5, "x": [1]}\n{"body": " yo ", "stars": 1.5}\n')
    df = read_table(path, roles=ROLES, columns={"text": "body", "label": "stars"})
    assert records(df) == [{"text": "hi", "label": "5"}, {"text": "yo", "label": "1.5"}]


def test_text_gives_one_example_per_line(tmp_path):
    path = write(tmp_path, "x.txt", "\ufefffirst line \r\nsecond\n")
    df = read_table(path, roles=["text"])
    assert records(df) == [{"text": "first line"}, {"text": "second"}]


def test_explicit_format_overrides_the_suffix(tmp_path):
    path = write(tmp_path, "x.data", "a\tb\n")
    assert records(read_table(path, format="tsv", roles=ROLES, header=False)) == [
        {"text": "a", "label": "b"}]


# --- errors ------------------------------------------------------------------------

def test_file_not_found(tmp_path):
    assert error(tmp_path / "x.csv") == f"{tmp_path / 'x.csv'}: file not found"


def test_folder_is_not_a_file(tmp_path):
    assert error(tmp_path) == f"{tmp_path}: not a file"


def test_unknown_suffix_names_formats_and_key(tmp_path):
    path = write(tmp_path, "x.dat", "a,b\n")
    assert error(path) == (f"{path}: cannot tell the format from the suffix '.dat'; "
                           "set data.source.format to one of csv, tsv, jsonl, text, conll, wordtag")
    bare = write(tmp_path, "data", "a,b\n")
    assert error(bare) == (f"{bare}: cannot tell the format from a name without a suffix; "
                           "set data.source.format to one of csv, tsv, jsonl, text, conll, wordtag")


def test_missing_column_lists_expected_and_found(tmp_path):
    path = write(tmp_path, "x.csv", "review,stars\nfine,4\n")
    assert error(path, columns={"text": "review"}) == (
        f"{path}: no column 'label'; expected columns review, label (from data.source.columns); "
        "the file has: review, stars")
    assert error(path) == (
        f"{path}: no column 'text'; expected columns text, label (the task's roles; map other "
        "names with data.source.columns); the file has: review, stars")


def test_column_index_out_of_range(tmp_path):
    path = write(tmp_path, "x.csv", "a,b\nc,d\n")
    assert error(path, header=False, columns={"text": 0, "label": 2}) == (
        f"{path}: no column 2; the file has 2 columns")


def test_column_name_needs_a_header(tmp_path):
    path = write(tmp_path, "x.csv", "a,b\n")
    assert error(path, header=False, columns={"text": "review", "label": 1}) == (
        f"{path}: data.source.columns.text is a column name but the file has no header row; "
        "give a 0-based column number or set data.source.header: true")


def test_empty_value_names_the_file_row(tmp_path):
    # The quoted value spans rows 2-3, so the empty label is on row 4 of the file.
    path = write(tmp_path, "x.csv", 'text,label\n"two\nlines",pos\nhello,  \n')
    assert error(path) == f"{path} row 4: empty value in column 'label'; expected a value{SKIP}"
    bare = write(tmp_path, "y.csv", "a,b\n,c\n")
    assert error(bare, header=False) == f"{bare} row 2: empty value in column 0; expected a value{SKIP}"


def test_blank_row_is_an_error(tmp_path):
    path = write(tmp_path, "x.tsv", "text\tlabel\na\tb\n\nc\td\n")
    assert error(path) == f"{path} row 3: empty row; expected one example per row{SKIP}"


def test_ragged_row(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\na,b\na,b,c\n")
    assert error(path) == f"{path} row 3: 3 fields; expected 2 as in row 1{SKIP}"


def test_malformed_csv(tmp_path):
    path = write(tmp_path, "x.csv", 'text,label\n"a"b,c\n')
    assert error(path) == f"{path} row 2: malformed CSV (',' expected after '\"')"


def test_not_utf8_names_the_line_and_the_command_that_converts_latin1(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\ncaf\u00e9,b\nok,c\n", encoding="latin-1")
    assert error(path) == (
        f"{path} line 2: not UTF-8 (invalid continuation byte after 0xe9); expected UTF-8 text (convert a "
        f"Latin-1 file with: iconv -f latin1 -t utf-8 {path} > {tmp_path / 'x.utf8.csv'}){SKIP}")


def test_empty_file(tmp_path):
    path = write(tmp_path, "x.csv", "")
    assert error(path) == f"{path}: empty file; expected a header row, then one example per row"
    blank = write(tmp_path, "y.tsv", "\n  \n")
    assert error(blank, header=False) == f"{blank}: empty file; expected one example per row"


def test_header_only_file(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\n")
    assert error(path) == f"{path}: only a header row (text, label); expected one example per row after it"


def test_jsonl_invalid_json(tmp_path):
    good, bad = '{"text": "a", "label": "b"}\n', '{"text": "a" "label": "b"}\n'
    path = write(tmp_path, "x.jsonl", good * 3 + bad)
    assert error(path) == (f"{path} line 4: not valid JSON (Expecting ',' delimiter); expected one JSON object "
                           f"per line{SKIP}")


def test_jsonl_line_must_be_an_object(tmp_path):
    path = write(tmp_path, "x.jsonl", '["a", "b"]\n')
    assert error(path) == f"{path} line 1: an array, not a JSON object; expected one JSON object per line{SKIP}"


def test_jsonl_missing_key(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": "a", "label": "b"}\n{"text": "a", "stars": 1}\n')
    assert error(path) == (
        f"{path} line 2: no key 'label'; expected keys text, label (the task's roles; map other "
        f"names with data.source.columns); the line has: text, stars{SKIP}")


@pytest.mark.parametrize("value", ['null', '""', '" "'])
def test_jsonl_empty_value(tmp_path, value):
    path = write(tmp_path, "x.jsonl", '{"text": "a", "label": %s}\n' % value)
    assert error(path) == f"{path} line 1: empty value in key 'label'; expected a value{SKIP}"


def test_jsonl_nested_value(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": {"a": 1}, "label": "b"}\n')
    assert error(path) == (
        f"{path} line 1: value of 'text' is an object; expected a string or a number{SKIP}")


def test_jsonl_needs_key_names(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": "a", "label": "b"}\n')
    assert error(path, columns={"label": 1}) == (
        f"{path}: data.source.columns.label is a column number; JSONL needs key names")


def test_blank_jsonl_and_text_lines(tmp_path):
    jsonl = write(tmp_path, "x.jsonl", '{"text": "a", "label": "b"}\n\n')
    assert error(jsonl) == f"{jsonl} line 2: empty line; expected one JSON object per line{SKIP}"
    text = write(tmp_path, "x.txt", "a\n  \nb\n")
    assert error(text, roles=["text"]) == f"{text} line 2: empty line; expected one example per line{SKIP}"


def test_text_format_gives_only_the_text_role(tmp_path):
    path = write(tmp_path, "x.txt", "a\n")
    assert error(path) == (
        f"{path}: the text format holds one example per line (role 'text' only); "
        "this task needs text, label; use csv, tsv or jsonl")
