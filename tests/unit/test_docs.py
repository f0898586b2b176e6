"""The docs stay honest: the pipelines they show validate, and their links lead somewhere.

- Every fenced ``yaml`` block of README.md and docs/*.md that is a whole pipeline (``task:`` or ``extends:`` at
  the top level, and ``stages:``) validates with seqpipe's own loader. Fragments (``stages:`` alone, ``data:``,
  ``sweep:``, a list of stages) are illustrations and are skipped. A block's relative ``extends`` are resolved
  from the first of the page's folder, the repository root and ``pipelines/`` that holds them all.
- Every relative link (and image) of those pages points to a file or folder that exists, and a ``#anchor``
  into a markdown file names one of its headings (GitHub's heading ids). http(s) and mailto links are not
  followed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 250

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)\n"
                   r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(?P<text>.+?)[ \t#]*$", re.M)


def rel(path: Path) -> str:
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, line of the opening fence, body)`` of every fenced block, indentation removed."""
    blocks = []
    for match in FENCE.finditer(text):
        indent = match.group("indent")
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line
                         for line in match.group("body").split("\n"))
        language = (match.group("info").strip().split() or [""])[0].lower()
        blocks.append((language, text.count("\n", 0, match.start()) + 1, body))
    return blocks


def without_fences(text: str) -> str:
    """``text`` with fenced blocks blanked out (line numbers kept)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def without_code(text: str) -> str:
    """``text`` with fenced blocks and inline code blanked out (line numbers kept)."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), without_fences(text))


# ------------------------------------------------------------------------------------------ pipelines
def is_whole_pipeline(data) -> bool:
    return isinstance(data, dict) and ("task" in data or "extends" in data) and "stages" in data


def base_dir_for(data: dict, page: Path) -> Path:
    """The first folder (the page's, the repository root, pipelines/) in which every ``extends`` exists."""
    extends = data.get("extends") or []
    extends = [extends] if isinstance(extends, str) else list(extends)
    candidates = [page.parent, REPO, REPO / "pipelines"]
    for folder in candidates:
        if all((folder / str(item)).is_file() for item in extends):
            return folder
    return candidates[0]


def pipeline_problems(page: Path, text: str | None = None) -> tuple[list[str], int]:
    """``(problems, number of whole pipelines checked)`` for the yaml blocks of ``page``."""
    from seqpipe.api import load
    from seqpipe.errors import ConfigError

    text = page.read_text(encoding="utf-8") if text is None else text
    problems, checked = [], 0
    for language, line, body in fenced_blocks(text):
        if language not in ("yaml", "yml"):
            continue
        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError as error:
            problems.append(f"{rel(page)}:{line}: the yaml block does not parse: {str(error).splitlines()[0]}")
            continue
        if not is_whole_pipeline(data):
            continue
        checked += 1
        try:
            load(data, base_dir=base_dir_for(data, page))
        except ConfigError as error:
            problems.append(f"{rel(page)}:{line}: the pipeline in this yaml block does not validate:\n  "
                            + str(error).replace("\n", "\n  "))
    return problems, checked


# ------------------------------------------------------------------------------------------ links
def slug(heading: str) -> str:
    """GitHub's id for a heading: the text lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The ids of every heading of a markdown text (a repeated id gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(without_fences(text)):
        base = slug(match.group("text"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_problems(page: Path, text: str | None = None, root: Path = REPO) -> list[str]:
    """One line per relative link of ``page`` that leads nowhere (a missing file, folder or heading)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems = []
    for match in LINK.finditer(without_code(text)):
        target = match.group("target")
        line = text.count("\n", 0, match.start()) + 1
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        where = f"{rel(page)}:{line}: link '{target}'"
        if not path.exists():
            problems.append(f"{where}: no such file or folder {rel(path)}")
        elif not path.resolve().is_relative_to(root.resolve()):
            problems.append(f"{where}: points outside the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text(encoding="utf-8")):
            problems.append(f"{where}: {rel(path)} has no heading with the id '{anchor}'")
    return problems


# ------------------------------------------------------------------------------------------ the docs
@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_the_pipelines_the_docs_show_validate(page):
    problems, _ = pipeline_problems(page)
    assert problems == [], "\n".join(problems)


def test_the_docs_show_whole_pipelines():
    """The rule above finds pipelines to check (it is not vacuous)."""
    assert sum(pipeline_problems(page)[1] for page in PAGES) >= 4


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page):
    problems = link_problems(page)
    assert problems == [], "\n".join(problems)


def test_the_readme_is_an_entry_page():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_the_docs_index_links_every_page():
    index = REPO / "docs" / "README.md"
    linked = {(index.parent / m.group("target").partition("#")[0]).resolve()
              for m in LINK.finditer(without_code(index.read_text(encoding="utf-8")))}
    missing = [rel(page) for page in PAGES if page.parent.name == "docs" and page != index and page not in linked]
    assert missing == [], f"docs/README.md does not link {missing}"


# ------------------------------------------------------------------------------------------ the checkers
def test_the_link_checker_reports_broken_links_and_nothing_else(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Stage `train`\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    text = ("# Page\n\n## Two words\n\n"
            "[fine](other.md) [fine](other.md#stage-train) [fine](#two-words) [fine](https://example.org/x.md)\n"
            "![missing image](missing.png)\n"
            "[missing file](nowhere.md)\n"
            "[missing heading](other.md#not-a-heading)\n"
            "[missing local heading](#three-words)\n"
            "`[in code](nowhere.md)`\n\n```\n[in a block](nowhere.md)\n```\n")
    page.write_text(text)
    problems = link_problems(page, root=tmp_path)
    assert [p.split(": link ")[1].split("'")[1] for p in problems] == [
        "missing.png", "nowhere.md", "other.md#not-a-heading", "#three-words"]
    assert problems[1].startswith(f"{page}:7: link 'nowhere.md'")


def test_heading_ids_follow_github():
    assert slug("Your own train / dev / test files") == "your-own-train--dev--test-files"
    assert slug("`layer_norm_lstm`") == "layer_norm_lstm"
    assert slug("Measured results (2 CPU cores, no GPU)") == "measured-results-2-cpu-cores-no-gpu"
    assert anchors("# A\n## A\n") == {"a", "a-1"}


def test_the_pipeline_checker_fails_a_bad_pipeline_with_its_file_and_line(tmp_path):
    page = tmp_path / "page.md"
    text = ("# Page\n\nA fragment, skipped:\n\n```yaml\nstages:\n  - train: {epochz: 3}\n```\n\n"
            "A whole pipeline with a typo:\n\n"
            "```yaml\ntask: classification\ndata: {source: {path: x.tsv}}\n"
            "stages: [tokenize, embed, encode, classify, {train: {epochz: 3}}, evaluate]\n```\n\n"
            "A whole pipeline that is fine, indented in a list:\n\n"
            "- item\n\n  ```yaml\n  task: classification\n  data: {source: {path: x.tsv}}\n"
            "  stages: [tokenize, embed, encode, classify, train, evaluate]\n  ```\n")
    problems, checked = pipeline_problems(page, text)
    assert checked == 2
    assert len(problems) == 1
    assert problems[0].startswith(f"{page}:12: the pipeline in this yaml block does not validate")
    assert "epochz" in problems[0]
