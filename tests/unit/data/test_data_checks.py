"""Data problems: counted before training, one line with data.on_error: fail, dropped and reported with skip."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from seqpipe.data import load_data
from seqpipe.data.checks import (
    DataReport,
    RowProblem,
    drop_rows,
    heldout_message,
    locate,
    origin,
    problem_message,
    single_value,
    values_only_in_heldout,
    where,
)
from seqpipe.data.config import DataConfig
from seqpipe.data.readers import read_table
from seqpipe.errors import DataError

ROLES = ["text", "label"]
SKIP = "(data.on_error: skip drops such rows)"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def error(path, **kwargs):
    kwargs.setdefault("roles", ROLES)
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    return str(info.value)


def skipped(path, **kwargs):
    kwargs.setdefault("roles", ROLES)
    report = DataReport()
    df = read_table(path, on_error="skip", report=report, **kwargs)
    return df, report


# --- message building blocks --------------------------------------------------------------------

@pytest.mark.parametrize("numbers, text", [
    ([17], "x.tsv row 17"),
    ([17, 40], "x.tsv rows 17 and 40"),
    ([17, 40, 52], "x.tsv rows 17, 40 and 52"),
    ([17, 40, 52, 60], "x.tsv rows 17, 40 and 2 more"),
    ([17, 40, 52, 60, 61], "x.tsv rows 17, 40 and 3 more"),
])
def test_where_names_the_first_rows_then_how_many_more(numbers, text):
    assert where([("x.tsv", "row", n) for n in numbers]) == text


def test_where_across_files_and_units():
    assert where([("dev.tsv", "row", 3), ("test.tsv", "row", 9)]) == "dev.tsv row 3 and test.tsv row 9"
    assert where([("a", "line", 1), ("a", "row", 2), ("b", "row", 3), ("b", "row", 4)]) == (
        "a line 1, a rows 2 and 2 more")
    assert where([(None, "row", 5), (None, "row", 6)]) == "rows 5 and 6"


def test_problem_message_groups_the_first_kind_and_points_at_the_others():
    problems = [RowProblem("x.csv", "row", 4, "3 fields; expected 2 as in row 1", "wrong number of fields; expected 2"),
                RowProblem("x.csv", "row", 6, "empty value in column 'label'; expected a value"),
                RowProblem("x.csv", "row", 9, "1 fields; expected 2 as in row 1", "wrong number of fields; expected 2"),
                RowProblem("x.csv", "line", 12, "not UTF-8 (invalid start byte 0xff); expected UTF-8 text")]
    assert problem_message(problems) == (
        f"x.csv rows 4 and 9: wrong number of fields; expected 2 {SKIP}; other problems at row 6 and line 12")
    assert problem_message(problems[1:2]) == f"x.csv row 6: empty value in column 'label'; expected a value {SKIP}"
    assert problem_message(problems[:1]) == f"x.csv row 4: 3 fields; expected 2 as in row 1 {SKIP}"


# --- fail: one line for all of a file's problems ------------------------------------------------

def test_fail_counts_every_bad_row(tmp_path):
    lines = ["text\tlabel"] + [f"t{i}\t{'' if i % 7 == 3 else 'pos'}" for i in range(40)]
    path = write(tmp_path, "train.tsv", "\n".join(lines) + "\n")
    assert error(path) == (f"{path} rows 5, 12 and 4 more: empty value in column 'label'; expected a value "
                           f"{SKIP}")


def test_fail_names_other_problems_after_the_first_kind(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\na,\nb,pos,extra\n\nc,\nd,neg\n")
    assert error(path) == (f"{path} rows 2 and 5: empty value in column 'label'; expected a value {SKIP}; "
                           "other problems at rows 3 and 4")


def test_missing_column_stops_even_with_skip(tmp_path):
    path = write(tmp_path, "x.csv", "review,stars\nfine,4\n")
    message = error(path, on_error="skip")
    assert message.startswith(f"{path}: no column 'text'; expected columns text, label")


# --- skip: drop, count, report -----------------------------------------------------------------

def test_skip_drops_bad_rows_and_reports_them(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\na,\nb,pos,extra\n\nc,\nd,neg\ne,pos\n")
    df, report = skipped(path)
    assert df.to_dict("records") == [{"text": "d", "label": "neg"}, {"text": "e", "label": "pos"}]
    assert origin(df).numbers == (6, 7)
    assert report.skipped == {str(path): 4} and report.total == 4 and bool(report)
    assert report.problems == {f"{path}: empty value in column 'label'; expected a value": 2,
                               f"{path}: wrong number of fields; expected 2 as in row 1": 1,
                               f"{path}: empty row; expected one example per row": 1}
    assert report.examples[:2] == [f"{path} row 2: empty value in column 'label'; expected a value",
                                   f"{path} row 3: 3 fields; expected 2 as in row 1"]
    assert report.summary() == f"data.on_error: skip dropped 4 rows: {path} 4"
    assert report.lines()[1] == f"  2 x {path}: empty value in column 'label'; expected a value"
    assert report.lines()[-1] == f"  e.g. {path} row 5: empty value in column 'label'; expected a value"


def test_an_empty_report():
    report = DataReport()
    assert not report and report.total == 0 and report.lines() == ["data: no rows dropped"]
    assert report.metrics() == {"data_skipped_rows": 0.0}


def test_skip_that_would_leave_nothing_fails(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\na,\nb,\n")
    assert error(path, on_error="skip") == (
        f"{path} rows 2 and 3: empty value in column 'label'; expected a value (data.on_error: skip would drop "
        "every row and leave none)")


def test_skip_in_every_format(tmp_path):
    jsonl = write(tmp_path, "x.jsonl", '{"text": "a", "label": "b"}\n{"text": "a"\n["x"]\n{"text": "c", "label": "d"}\n'
                                       '{"text": {"n": 1}, "label": "d"}\n{"text": "e", "stars": 1}\n\n')
    df, report = skipped(jsonl)
    assert df["text"].tolist() == ["a", "c"] and report.total == 5
    assert report.examples[1:3] == [f"{jsonl} line 3: an array, not a JSON object; expected one JSON object per line",
                                    f"{jsonl} line 5: value of 'text' is an object; expected a string or a number"]
    text = write(tmp_path, "x.txt", "one\n\nthree\n")
    df, report = skipped(text, roles=["text"])
    assert df["text"].tolist() == ["one", "three"]
    assert report.examples == [f"{text} line 2: empty line; expected one example per line"]
    conll = write(tmp_path, "x.conll", "The\tDT\ncat\t\n\nA\tDT\ndog\tNN\n\nx\ty\tz\n\nw\n")
    df, report = skipped(conll, roles=["tokens", "tags"])
    assert df.values.tolist() == [["A dog", "DT NN"]] and report.total == 3
    assert report.examples == [f"{conll} line 2: empty value in column 1 (tags); expected a value",
                               f"{conll} line 7: 3 columns; expected 2 as in line 1",
                               f"{conll} line 9: 1 column; expected 2 as in line 1"]
    assert origin(df).numbers == (4,)
    wordtag = write(tmp_path, "x.wt", "a/DT b/NN\nbad item/X\nc/NN\n")
    df, report = skipped(wordtag, format="wordtag", roles=["tokens", "tags"])
    assert df["tokens"].tolist() == ["a b", "c"] and report.total == 1


def test_token_and_tag_counts_are_row_problems(tmp_path):
    path = write(tmp_path, "x.tsv", "tokens\ttags\na b\tX Y\na b c\tX\nd\tX Y\n")
    assert error(path, roles=["tokens", "tags"]) == (
        f"{path} rows 3 and 4: token and tag counts differ; expected one tag per token (tokens and tags are each "
        f"separated by spaces) {SKIP}")
    df, report = skipped(path, roles=["tokens", "tags"])
    assert df.values.tolist() == [["a b", "X Y"]]
    assert report.examples[0] == (f"{path} row 3: 3 tokens but 1 tag; expected one tag per token (tokens and tags "
                                  "are each separated by spaces)")


# --- max_tokens ---------------------------------------------------------------------------------

def test_max_tokens_counts_the_first_role(tmp_path):
    path = write(tmp_path, "pairs.tsv", "src\ttgt\na b c\tx\na b c d\tx\na\tx y z w v\n")
    columns = {"source": "src", "target": "tgt"}
    kwargs = {"roles": ["source", "target"], "columns": columns, "max_tokens": 3}
    assert error(path, **kwargs) == (f"{path} row 3: 4 tokens in column 'src'; expected at most 3 (data.max_tokens) "
                                     f"{SKIP}")
    df, report = skipped(path, **kwargs)
    assert df["source"].tolist() == ["a b c", "a"] and report.total == 1
    long = write(tmp_path, "long.txt", "a b c d\nx\ne f g h i\n")
    assert error(long, roles=["text"], max_tokens=3) == (
        f"{long} lines 1 and 3: more than 3 tokens in the line; expected at most 3 (data.max_tokens) {SKIP}")


# --- empty and header-only files ----------------------------------------------------------------

def test_empty_and_header_only_files_stop_even_with_skip(tmp_path):
    empty = write(tmp_path, "x.jsonl", "\n\n")
    assert error(empty, on_error="skip") == f"{empty}: empty file; expected one JSON object per line"
    header = write(tmp_path, "x.tsv", "text\tlabel\r\n")
    assert error(header, on_error="skip") == (
        f"{header}: only a header row (text, label); expected one example per row after it")


# --- Unicode ------------------------------------------------------------------------------------

def test_bom_and_crlf_are_accepted_everywhere(tmp_path):
    expected = [{"text": "café", "label": "pos"}, {"text": "b", "label": "neg"}]
    csv_ = write(tmp_path, "x.csv", "\ufefftext,label\r\ncafé,pos\r\nb,neg\r\n")
    tsv = write(tmp_path, "x.tsv", "\ufefftext\tlabel\r\ncafé\tpos\r\nb\tneg\r\n")
    jsonl = write(tmp_path, "x.jsonl", '\ufeff{"text": "café", "label": "pos"}\r\n{"text": "b", "label": "neg"}\r\n')
    for path in (csv_, tsv, jsonl):
        assert read_table(path, roles=ROLES).to_dict("records") == expected
    cr = write(tmp_path, "y.tsv", "text\tlabel\rcafé\tpos\rb\tneg\r")
    assert read_table(cr, roles=ROLES).to_dict("records") == expected


def test_a_stray_byte_is_named_by_its_line(tmp_path):
    lines = ["text\tlabel"] + [f"caf\u00e9 {i}\tpos" for i in range(20)]
    data = ("\n".join(lines) + "\n").encode("utf-8").replace(b"caf\xc3\xa9 16", b"caf\xff 16")
    path = write(tmp_path, "train.tsv", data)
    converted = tmp_path / "train.utf8.tsv"
    assert error(path) == (f"{path} line 18: not UTF-8 (invalid start byte 0xff); expected UTF-8 text (convert a "
                           f"Latin-1 file with: iconv -f latin1 -t utf-8 {path} > {converted}) {SKIP}")
    df, report = skipped(path)
    assert len(df) == 19 and "caf\u00e9 16" not in df["text"].tolist()
    assert report.examples == [f"{path} line 18: not UTF-8 (invalid start byte 0xff); expected UTF-8 text "
                               f"(convert a Latin-1 file with: iconv -f latin1 -t utf-8 {path} > {converted})"]


def test_a_latin1_file_is_refused_whole_with_the_command_to_convert_it(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\ncaf\u00e9,a\nna\u00efve,b\nplain,c\n".encode("latin-1"))
    message = (f"{path}: not UTF-8: 2 lines have bytes that are not UTF-8 (first line 2: invalid continuation byte "
               "after 0xe9) and none has UTF-8 beyond ASCII, so the file is in another encoding; expected UTF-8 text "
               f"(convert a Latin-1 file with: iconv -f latin1 -t utf-8 {path} > {tmp_path / 'x.utf8.csv'}) "
               "(data.on_error: skip does not drop whole files)")
    assert error(path) == message
    assert error(path, on_error="skip") == message


def test_bytes_in_a_multi_line_record_and_in_the_header(tmp_path):
    path = write(tmp_path, "x.csv", b'text,label\n"two\nl\xe9nes",pos\nok,neg\n')
    assert error(path).startswith(f"{path} line 3: not UTF-8 (invalid continuation byte after 0xe9)")
    header = write(tmp_path, "y.csv", b"t\xe9xt,label\na,b\n")
    assert error(header, on_error="skip").startswith(
        f"{header} line 1: not UTF-8 (invalid continuation byte after 0xe9) in the header row; expected UTF-8")


# --- load_data: checks before anything trains -----------------------------------------------------

def test_load_data_skips_and_reports(tmp_path):
    lines = ["text\tlabel"] + [f"t{i}\t{'pos' if i % 2 else 'neg'}" for i in range(30)] + ["\tpos", "x y z w\tneg"]
    (tmp_path / "x.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = DataConfig(source={"path": "x.tsv"}, on_error="skip", max_tokens=3, split={"valid": 0.2, "test": 0.2})
    parts, report = load_data(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert {name: len(part) for name, part in parts.items()} == {"train": 18, "valid": 6, "test": 6}
    assert report.total == 2
    assert report.examples == [
        f"{tmp_path / 'x.tsv'} row 32: empty value in column 'text'; expected a value",
        f"{tmp_path / 'x.tsv'} row 33: 4 tokens in column 'text'; expected at most 3 (data.max_tokens)"]
    with pytest.raises(DataError) as info:
        load_data(DataConfig(source={"path": "x.tsv"}), roles=ROLES, seed=0, base_dir=tmp_path)
    assert str(info.value) == f"{tmp_path / 'x.tsv'} row 32: empty value in column 'text'; expected a value {SKIP}"


# --- checks a task calls ------------------------------------------------------------------------

def frames(tmp_path, train, valid, test, column="label"):
    """Fixed-split files read by load_data, so the frames know their rows."""
    for name, values in (("train", train), ("dev", valid), ("test", test)):
        body = "".join(f"t{i}\t{value}\n" for i, value in enumerate(values))
        (tmp_path / f"{name}.tsv").write_text(f"text\t{column}\n{body}", encoding="utf-8")
    cfg = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv",
                             "columns": {"label": column, "tags": column}})
    role = "tags" if column == "ner" else "label"
    return load_data(cfg, roles=["text", role], seed=0, base_dir=tmp_path)[0]


def test_single_value(tmp_path):
    splits = frames(tmp_path, ["pos"] * 4, ["pos"], ["neg"], column="stars")
    assert single_value(splits, "label") == (
        f"{tmp_path / 'train.tsv'}: all 4 rows of the train split have 'pos' in column 'stars'; expected at least 2 "
        "different values")
    assert single_value(frames(tmp_path, ["pos", "neg"], ["pos"], ["pos"]), "label") is None
    plain = {"train": pd.DataFrame({"label": ["a", "a"]})}
    assert single_value(plain, "label") == (
        "all 2 rows of the train split have 'a' in column 'label'; expected at least 2 different values")


def test_values_only_in_heldout(tmp_path):
    splits = frames(tmp_path, ["pos", "neg", "pos"], ["pos", "neutral", "mixed"], ["neutral", "neg", "neutral"])
    found = values_only_in_heldout(splits, "label")
    assert found == {"neutral": [("valid", 1), ("test", 0), ("test", 2)], "mixed": [("valid", 2)]}
    assert heldout_message(splits, "label", found) == (
        f"{tmp_path / 'dev.tsv'} row 3, {tmp_path / 'test.tsv'} rows 2 and 4: 'neutral' in column 'label' does not "
        f"occur in the train split; expected one of the 2 values seen in training: neg, pos {SKIP}; other values "
        f"only in held-out rows: 'mixed' ({tmp_path / 'dev.tsv'} row 4)")
    assert values_only_in_heldout(frames(tmp_path, ["a", "b"], ["b"], ["a"]), "label") == {}


def test_values_only_in_heldout_as_tokens(tmp_path):
    splits = frames(tmp_path, ["O B-PER", "O"], ["O B-LOC B-LOC", "O"], ["B-PER O", "B-MISC"], column="ner")
    found = values_only_in_heldout(splits, "tags", tokens=True)
    assert found == {"B-LOC": [("valid", 0)], "B-MISC": [("test", 1)]}
    assert heldout_message(splits, "tags", found, tokens=True) == (
        f"{tmp_path / 'dev.tsv'} row 2: 'B-LOC' in column 'ner' does not occur in the train split; expected one of "
        f"the 2 values seen in training: B-PER, O {SKIP}; other values only in held-out rows: 'B-MISC' "
        f"({tmp_path / 'test.tsv'} row 3)")


def test_drop_rows_keeps_origins_and_counts(tmp_path):
    splits = frames(tmp_path, ["pos", "neg"], ["pos", "neutral", "neg"], ["neutral"] + ["pos"] * 2)
    found = values_only_in_heldout(splits, "label")
    report = DataReport()
    kept = drop_rows(splits, found, report, column="label")
    assert kept["valid"]["label"].tolist() == ["pos", "neg"] and kept["test"]["label"].tolist() == ["pos", "pos"]
    assert kept["train"] is splits["train"]
    assert [locate(kept["valid"], "valid", i) for i in range(2)] == [
        (str(tmp_path / "dev.tsv"), "row", 2), (str(tmp_path / "dev.tsv"), "row", 4)]
    assert report.total == 2 and report.examples[0] == (
        f"{tmp_path / 'dev.tsv'} row 3: 'neutral' in column 'label' does not occur in the train split; expected a "
        "value seen in training")


def test_frames_without_an_origin_are_named_by_split():
    splits = {"train": pd.DataFrame({"label": ["a", "b"]}), "valid": pd.DataFrame({"label": ["c"]}),
              "test": pd.DataFrame({"label": ["a"]})}
    found = values_only_in_heldout(splits, "label")
    assert heldout_message(splits, "label", found, hint="seen") == (
        "valid split row 1: 'c' in column 'label' does not occur in the train split; expected one of the 2 values "
        "seen in training: a, b (seen)")


def test_the_checks_module_stays_light():
    import subprocess
    import sys

    code = "import sys, seqpipe.data.checks; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_json_values_keep_their_line_numbers(tmp_path):
    lines = [json.dumps({"text": f"t{i}", "label": "x"}) for i in range(3)]
    path = write(tmp_path, "x.jsonl", "\n".join(["", *lines]) + "\n")
    df, report = skipped(path)
    assert origin(df).numbers == (2, 3, 4) and report.total == 1
