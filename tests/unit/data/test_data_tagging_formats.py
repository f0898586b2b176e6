"""The tagging formats (conll, wordtag) and the token/tag count check of every format."""

from __future__ import annotations

import json

import pytest

from seqpipe.data.readers import read_table
from seqpipe.errors import DataError

ROLES = ["tokens", "tags"]
SKIP = " (data.on_error: skip drops such rows)"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def rows(df):
    return list(df.itertuples(index=False, name=None))


def error(path, **kwargs):
    kwargs.setdefault("roles", ROLES)
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    return str(info.value)


# --- conll ---------------------------------------------------------------------------

CONLL = (
    "-DOCSTART-\tO\n"
    "\n"
    "# sent_id = 1\n"
    "The\tDT\tB-NP\n"
    "cat\tNN\tI-NP\n"
    "sat\tVBD\tB-VP\n"
    "\n"
    "\n"
    "\n"
    "# a comment between sentences\n"
    "#\tNN\tO\n"  # a '#' token: the line has tabs, so it is data
    "1/2\tCD\tB-NP\n"
    "\n"
    "-DOCSTART-\tO\n"
    "\n"
    "Dogs\tNNS\tB-NP\n"
    "bark\tVBP\tB-VP"  # no line break at the end
)


@pytest.mark.parametrize("name", ["x.conll", "x.conllu", "x.bio", "x.iob", "X.CONLL"])
def test_conll_defaults_take_column_0_and_the_last_column(tmp_path, name):
    path = write(tmp_path, name, CONLL)
    df = read_table(path, roles=ROLES)
    assert list(df.columns) == ROLES
    assert rows(df) == [("The cat sat", "B-NP I-NP B-VP"), ("# 1/2", "O B-NP"),
                        ("Dogs bark", "B-NP B-VP")]


def test_conll_columns_chosen_by_number_in_any_role_order(tmp_path):
    path = write(tmp_path, "x.txt", CONLL)
    df = read_table(path, format="conll", roles=["tags", "tokens"], columns={"tags": 1})
    assert rows(df) == [("DT NN VBD", "The cat sat"), ("NN CD", "# 1/2"), ("NNS VBP", "Dogs bark")]
    df = read_table(path, format="conll", roles=["tokens"], columns={"tokens": 2})
    assert rows(df)[0] == ("B-NP I-NP B-VP",)


def test_conll_crlf_blank_lines_with_spaces_and_header_ignored(tmp_path):
    path = write(tmp_path, "x.conll", "\n \nA\tX\r\nb\tY\r\n  \t \r\nc\tZ\r\n\r\n\r\n")
    assert rows(read_table(path, roles=ROLES, header=False)) == [("A b", "X Y"), ("c", "Z")]
    assert rows(read_table(path, roles=ROLES, header=True)) == [("A b", "X Y"), ("c", "Z")]


def test_conll_fields_are_stripped_and_other_columns_may_be_empty(tmp_path):
    path = write(tmp_path, "x.conll", " A \t\t X \nb\t_\tY\n")
    assert rows(read_table(path, roles=ROLES)) == [("A b", "X Y")]


def test_conll_ragged_line_names_the_first_token_line(tmp_path):
    path = write(tmp_path, "x.conll", "# comment\n\nThe\tDT\tB-NP\ncat\tNN\n")
    assert error(path) == f"{path} line 4: 2 columns; expected 3 as in line 3{SKIP}"
    path = write(tmp_path, "y.conll", "a\tb\tc\td\n\nx\ty\tz\n")
    assert error(path) == f"{path} line 3: 3 columns; expected 4 as in line 1{SKIP}"


def test_conll_empty_value_in_a_role_column(tmp_path):
    path = write(tmp_path, "x.conll", "The\tDT\nbig\tJJ\n\ncat\t \n")
    assert error(path) == f"{path} line 4: empty value in column 1 (tags); expected a value{SKIP}"
    path = write(tmp_path, "y.conll", "The\tDT\tB\n\tNN\tI\n")
    assert error(path) == f"{path} line 2: empty value in column 0 (tokens); expected a value{SKIP}"


def test_conll_token_or_tag_with_a_space(tmp_path):
    path = write(tmp_path, "x.conll", "The\tDT\nNew York\tNP\n")
    message = error(path)
    assert message.startswith(
        f"{path} line 2: token 'New York' in column 0 contains whitespace; tokens are separated "
        "by whitespace in seqpipe, so a token cannot hold any: join its parts with another "
        "character such as _")
    assert message.endswith(f"(or, if the file separates its columns with spaces, use tabs){SKIP}")
    path = write(tmp_path, "y.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")  # space-separated
    assert error(path).startswith(f"{path} line 1: token 'EU NNP B-NP B-ORG' in column 0 contains")
    path = write(tmp_path, "z.conll", "The\tB NP\n")
    assert error(path).startswith(f"{path} line 1: tag 'B NP' in column 1 contains whitespace")


def test_conll_column_past_the_width(tmp_path):
    path = write(tmp_path, "x.conll", "\nThe\tDT\tB-NP\n")
    assert error(path, columns={"tags": 3}) == (
        f"{path}: no column 3 for tags (data.source.columns.tags); line 2 has 3 columns, "
        "numbered 0 to 2")
    assert error(path, columns={"tokens": -1}).startswith(f"{path}: no column -1 for tokens")


def test_conll_needs_column_numbers(tmp_path):
    path = write(tmp_path, "x.conll", "The\tDT\n")
    assert error(path, columns={"tokens": "form"}) == (
        f"{path}: data.source.columns.tokens is a column name ('form'); the conll format has "
        "no header row, so give a 0-based column number")


def test_conll_holds_tokens_and_tags_only(tmp_path):
    path = write(tmp_path, "x.conll", "The\tDT\n")
    assert error(path, roles=["text", "label"]) == (
        f"{path}: the conll format holds tokens and tags only, not text, label; use csv, tsv "
        "or jsonl for other columns")
    assert error(path, roles=["tokens", "tags", "document"]) == (
        f"{path}: the conll format holds tokens and tags only, not document; use csv, tsv "
        "or jsonl for other columns")
    assert error(path, columns={"tags": 1, "lemma": 2}) == (
        f"{path}: data.source.columns.lemma: the conll format holds tokens and tags only; "
        "map just those to column numbers")


@pytest.mark.parametrize("content, problem", [
    ("", "empty file"), ("\n\n", "empty file"), ("-DOCSTART-\tO\n\n# only comments\n", "no examples")])
def test_conll_without_sentences(tmp_path, content, problem):
    path = write(tmp_path, "x.conll", content)
    assert error(path) == (f"{path}: {problem}; expected one token per line in tab-separated columns, a blank "
                           "line between sentences")


# --- wordtag -------------------------------------------------------------------------

def test_wordtag_splits_items_at_the_last_slash(tmp_path):
    path = write(tmp_path, "x.txt",
                 "The/AT jury/NN said/VBD ./.\n\n   \n1/2/CD  of/IN\tAND/OR/CC http://x/NN\r\n")
    df = read_table(path, format="wordtag", roles=ROLES)
    assert rows(df) == [("The jury said .", "AT NN VBD ."),
                        ("1/2 of AND/OR http://x", "CD IN CC NN")]
    assert rows(read_table(path, format="wordtag", roles=["tags"]))[1] == ("CD IN CC NN",)


@pytest.mark.parametrize("item, position", [("foo", 2), ("word/", 2), ("/NN", 2), ("/", 2)])
def test_wordtag_item_that_is_not_word_tag(tmp_path, item, position):
    path = write(tmp_path, "x.wt", f"a/DT b/NN\n\nthe/AT {item} c/NN\n")
    assert error(path, format="wordtag") == (
        f"{path} line 3: item {position} '{item}' is not word/TAG (items are separated by "
        f"whitespace and split at their last /){SKIP}")


def test_wordtag_holds_tokens_and_tags_only_and_no_columns(tmp_path):
    path = write(tmp_path, "x.wt", "a/DT\n")
    assert error(path, format="wordtag", roles=["text"]) == (
        f"{path}: the wordtag format holds tokens and tags only, not text; use csv, tsv or "
        "jsonl for other columns")
    assert error(path, format="wordtag", columns={"tokens": 0}) == (
        f"{path}: data.source.columns does not apply to the wordtag format (each item is "
        "word/TAG); remove it")
    blank = write(tmp_path, "y.wt", "\n \n")
    assert error(blank, format="wordtag") == f"{blank}: empty file; expected one sentence of word/TAG items per line"


def test_wordtag_is_never_picked_by_suffix(tmp_path):
    path = write(tmp_path, "x.pos", "a/DT\n")
    assert "set data.source.format to one of csv, tsv, jsonl, text, conll, wordtag" in error(path)


# --- token / tag counts in every format ----------------------------------------------

def test_tsv_row_with_more_tokens_than_tags(tmp_path):
    lines = ["tokens\ttags"] + [f"w{i} x\tA B" for i in range(10)] + ["a b c d e f g\tA B C D E F"]
    path = write(tmp_path, "x.tsv", "\n".join(lines) + "\n")
    assert error(path) == (f"{path} row 12: 7 tokens but 6 tags; expected one tag per token "
                           f"(tokens and tags are each separated by spaces){SKIP}")


def test_csv_rows_are_counted_where_they_start(tmp_path):
    path = write(tmp_path, "x.csv", 'words,labels\n"a\nb",X Y\n"c d",X\n')
    assert error(path, columns={"tokens": "words", "tags": "labels"}).startswith(
        f"{path} row 4: 2 tokens but 1 tag;")


def test_jsonl_line_with_fewer_tokens_than_tags(tmp_path):
    objects = [{"tokens": "a b", "tags": "X Y", "id": 1}] * 4 + [{"tokens": "a", "tags": "X Y"}]
    path = write(tmp_path, "x.jsonl", "".join(json.dumps(obj) + "\n" for obj in objects))
    assert error(path) == (f"{path} line 5: 1 token but 2 tags; expected one tag per token "
                           f"(tokens and tags are each separated by spaces){SKIP}")
    renamed = write(tmp_path, "y.jsonl", json.dumps({"words": "a  b", "pos": "X"}) + "\n")
    assert error(renamed, columns={"tokens": "words", "tags": "pos"}).startswith(
        f"{renamed} line 1: 2 tokens but 1 tag;")


def test_token_and_tag_spacing_is_normalised_and_roles_alone_are_not_counted(tmp_path):
    path = write(tmp_path, "x.jsonl", json.dumps({"tokens": "a  b\tc", "tags": " X Y\nZ"}) + "\n")
    assert rows(read_table(path, roles=ROLES)) == [("a b c", "X Y Z")]
    uneven = write(tmp_path, "y.tsv", "tokens\ttags\na b c\tX\n")
    assert rows(read_table(uneven, roles=["tokens"])) == [("a b c",)]
    assert rows(read_table(uneven, roles=["tags"])) == [("X",)]
