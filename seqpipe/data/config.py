"""Schema of the ``data`` section of a pipeline file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.data.recipes import DATASETS


class SourceConfig(Schema):
    """Where the examples come from: a named recipe or a file of your own."""

    recipe: Annotated[str, RegistryName(DATASETS)] | None = Field(
        None, description="Name of a built-in dataset that seqpipe downloads and caches."
    )
    path: str | None = Field(
        None,
        description="Data file to read; a relative path is taken from the pipeline file's folder.",
    )
    format: Literal["auto", "csv", "tsv", "jsonl", "text", "conll", "wordtag"] = Field(
        "auto",
        description="File format; 'auto' picks it from the suffix (.csv, .tsv/.tab, "
        ".jsonl/.ndjson, .txt, .conll/.conllu/.bio/.iob). 'text' holds one example per line. "
        "For tagged sentences: 'conll' holds one token per line in tab-separated columns with a blank "
        "line between sentences; 'wordtag' holds one sentence per line of word/TAG items.",
    )
    columns: dict[str, str | int] | None = Field(
        None,
        description="Maps a role (such as text or label) to the file's column name, or to "
        "a 0-based column index for files without a header row. Unmapped roles are "
        "looked up under their own name. For conll files give column numbers; by default "
        "tokens are column 0 and tags the last column.",
    )
    header: bool = Field(True, description="Whether a CSV or TSV file starts with a header row.")
    limit: int | None = Field(
        None, ge=1, description="Keep only the first N rows after a seeded shuffle (quick runs)."
    )
    tagset: Literal["original", "universal"] = Field(
        "original",
        description="Tags to train on: 'original' keeps the source's tags; 'universal' maps "
        "Brown tags to the 12 universal tags of Petrov, Das & McDonald (2012) (. ADJ ADP ADV "
        "CONJ DET NOUN NUM PRON PRT VERB X) with their published table; needs recipe: brown.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SourceConfig:
        if (self.recipe is None) == (self.path is None):
            raise ValueError("give exactly one of source.recipe or source.path")
        return self

    @model_validator(mode="after")
    def _universal_needs_brown(self) -> SourceConfig:
        if self.tagset == "universal" and self.recipe != "brown":
            got = (f"source.recipe: {self.recipe}" if self.recipe is not None
                   else "source.path")
            raise ValueError(
                "source.tagset: universal maps Brown corpus tags and needs source.recipe: "
                f"brown; got {got} (use tagset: original, the default)"
            )
        return self


class SplitConfig(Schema):
    """How the examples are divided into train, valid and test splits."""

    valid: float = Field(
        0.1, ge=0, lt=0.5,
        description="Fraction of rows (of groups, with group_by) held out for validation.",
    )
    test: float = Field(
        0.1, ge=0, lt=0.5,
        description="Fraction of rows (of groups, with group_by) held out for the test.",
    )
    stratify: bool = Field(
        True,
        description="Keep the label proportions equal across splits (when there is a label; "
        "ignored with group_by).",
    )
    group_by: str | None = Field(
        None,
        min_length=1,
        description="keep all rows of one group in one split, e.g. group_by: group to validate "
        "on unseen plays",
    )

    @model_validator(mode="after")
    def _leave_training_rows(self) -> SplitConfig:
        if self.valid + self.test >= 0.9:
            raise ValueError(
                f"split.valid + split.test must be below 0.9; got {self.valid} + {self.test}"
            )
        return self


class DataConfig(Schema):
    """The ``data`` section: the source of the examples and how to split them."""

    source: SourceConfig = Field(description="Where the examples come from.")
    split: SplitConfig = Field(
        default_factory=SplitConfig,
        description="How the rows are split into train, valid and test.",
    )
