"""Schema of the ``data`` section of a pipeline file."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from seqpipe.data.recipes import DATASETS
from seqpipe.schema import NonEmptyStr, PathStr, RegistryName, Schema

SOURCES = ("recipe", "path", "train")  # exactly one is given
SPLITS = ("train", "valid", "test")
STREAM_ABOVE_MB = 256  # data.streaming: auto streams training files larger than this on disk

def _some(value: Any) -> Any:
    if not value:
        kind = "list" if isinstance(value, list) else "mapping"
        raise PydanticCustomError("empty_files", f"must be a non-empty {kind}")
    return value


def _kind(value: Any) -> str | None:
    return {str: "path", list: "shards", dict: "parallel"}.get(type(value))


def _one_of(*members: tuple[Any, str], message: str) -> Any:
    """A union told apart by the value's type (so a problem is reported at the member that fits)."""
    return Annotated[Union[tuple(Annotated[m, Tag(tag)] for m, tag in members)],
                     Discriminator(_kind, custom_error_type="files_kind", custom_error_message=message)]


Shards = Annotated[list[PathStr], AfterValidator(_some)]
PathOrShards = _one_of((PathStr, "path"), (Shards, "shards"), message="must be a path or a list of paths")
Files = _one_of((PathStr, "path"), (Shards, "shards"),
                (Annotated[dict[NonEmptyStr, PathOrShards], AfterValidator(_some)], "parallel"),
                message="must be a path, a list of paths or a mapping of role to path (parallel files)")
"""One split's files: a path or glob, a list of shards, or ``{role: path, glob or list}`` (parallel files)."""
_LAYOUT = ("a file, a glob (corpus/train-*.tsv) or a list of files, read one after the other, .gz files "
           "included; or line-aligned parallel files, one text file per role ({source: train.en, target: "
           "train.es}, each a file, glob or list); relative paths are taken from the pipeline file's folder "
           "(from the working directory when typed in -o)")


class SourceConfig(Schema):
    """Where the examples come from: a named recipe, one file of your own that data.split divides,
    or your own train file with optional valid and test files (fixed splits)."""

    recipe: Annotated[str, RegistryName(DATASETS)] | None = Field(
        None, description="Name of a built-in dataset that seqpipe downloads and caches."
    )
    path: Files | None = Field(
        None,
        description=f"Data to read and split by data.split: {_LAYOUT}.",
    )
    train: Files | None = Field(
        None,
        description="Training data, for fixed splits (instead of path); given like path. Give valid and "
        "test too, or leave one out to have data.split carve it from the train rows.",
    )
    valid: Files | None = Field(
        None,
        description="Validation data (with train), given like path; data.split.valid then does not apply.",
    )
    test: Files | None = Field(
        None,
        description="Test data (with train), given like path; data.split.test then does not apply.",
    )
    format: Literal["auto", "csv", "tsv", "jsonl", "text", "conll", "wordtag"] = Field(
        "auto",
        description="File format; 'auto' picks it from the suffix (.csv, .tsv/.tab, "
        ".jsonl/.ndjson, .txt, .conll/.conllu/.bio/.iob). 'text' holds one example per line. "
        "For tagged sentences: 'conll' holds one token per line in tab-separated columns with a blank "
        "line between sentences; 'wordtag' holds one sentence per line of word/TAG items. A .gz suffix is "
        "looked past (train.tsv.gz is tsv). Applies to tables, not to parallel files (always one value per line).",
    )
    columns: dict[str, NonEmptyStr | int] | None = Field(
        None,
        description="Maps a role (such as text or label) to the file's column name, or to "
        "a 0-based column index for files without a header row. Unmapped roles are "
        "looked up under their own name. For conll files give column numbers; by default "
        "tokens are column 0 and tags the last column. Not for parallel files (their keys are the roles).",
    )
    header: bool = Field(True, description="Whether a CSV or TSV file starts with a header row (not for "
                                           "parallel files).")
    limit: int | None = Field(
        None, ge=1,
        description="Keep only the first N rows after a seeded shuffle (quick runs): of the whole table "
        "before it is split, or of the train split only when the splits are fixed (train, valid and "
        "test files, or a recipe's own splits); fixed valid and test splits are kept whole.",
    )
    options: dict[str, Any] | None = Field(
        None,
        description="Parameters of a recipe that takes them (a generated one such as adding, copy or reverse; "
        "seqpipe list datasets names each recipe's options), checked by the recipe's own schema: unset keys take "
        "its defaults, and the prepared table is cached once per set of options. Only with source.recipe.",
    )
    tagset: Literal["original", "universal"] = Field(
        "original",
        description="Tags to train on: 'original' keeps the source's tags; 'universal' maps "
        "Brown tags to the 12 universal tags of Petrov, Das & McDonald (2012) (. ADJ ADP ADV "
        "CONJ DET NOUN NUM PRON PRT VERB X) with their published table; needs recipe: brown.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SourceConfig:
        given = [f"source.{key}" for key in SOURCES if getattr(self, key) is not None]
        if len(given) != 1:
            got = "none" if not given else " and ".join(given)
            raise ValueError(f"give exactly one of source.recipe, source.path or source.train; got {got}")
        held_out = [f"source.{key}" for key in ("valid", "test") if getattr(self, key) is not None]
        if held_out and self.train is None:
            raise ValueError(
                f"{' and '.join(held_out)} go with source.train (fixed split files); with {given[0]}, "
                "data.split carves the valid and test splits, so use source.train instead"
            )
        return self

    @model_validator(mode="after")
    def _table_keys_need_a_table(self) -> SourceConfig:
        given = [getattr(self, key) for key in ("path", *SPLITS) if getattr(self, key) is not None]
        if given and all(isinstance(files, dict) for files in given):
            table_keys = [f"source.{key}" for key in ("format", "columns", "header") if key in self.model_fields_set
                          and not (key == "format" and self.format in ("auto", "text"))]
            if table_keys:
                verb = "apply" if len(table_keys) > 1 else "applies"
                raise ValueError(f"{' and '.join(table_keys)} {verb} to table files; parallel files (a mapping of "
                                 "role to file) hold one value per line, so remove them")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _recipe_options(cls, data: Any, handler) -> SourceConfig:
        """``options`` validated by the recipe's own Options schema, defaults filled in; problems are
        reported at ``options.<key>``."""
        source = handler(data)
        given = source.options
        if source.recipe is None:
            if given is not None:
                raise _problems([("recipe_options", "options are a recipe's parameters and go with source.recipe; "
                                                    "remove them", ())])
            return source
        recipe = DATASETS.get(source.recipe)
        if recipe.Options is None:
            if given:
                raise _problems([("recipe_options", f"recipe {source.recipe} takes no options; remove "
                                                    f"{', '.join(map(str, given))}", ())])
            return source
        try:
            parsed = recipe.parse_options(given)
        except ValidationError as exc:
            raise _problems(_option_problems(exc, recipe)) from None
        source.__dict__["options"] = parsed.model_dump(mode="json")  # defaults filled in (no re-validation)
        return source

    @model_serializer(mode="wrap")
    def _options_only_when_used(self, handler) -> dict[str, Any]:
        """Leave ``options: null`` out of dumps (resolved.yaml, MLflow params, stage-cache keys), so sources
        without options read as they did before the key existed."""
        data = handler(self)
        if isinstance(data, dict) and data.get("options") is None:
            data.pop("options", None)
        return data

    @model_validator(mode="after")
    def _universal_needs_brown(self) -> SourceConfig:
        if self.tagset == "universal" and self.recipe != "brown":
            got = (f"source.recipe: {self.recipe}" if self.recipe is not None
                   else "source.path" if self.path is not None else "source.train")
            raise ValueError(
                "source.tagset: universal maps Brown corpus tags and needs source.recipe: "
                f"brown; got {got} (use tagset: original, the default)"
            )
        return self


def _problems(problems: list[tuple[str, str, tuple]]) -> ValidationError:
    """A ValidationError of one-line problems ``(kind, message, location under options)``."""
    return ValidationError.from_exception_data("SourceConfig", [
        {"type": PydanticCustomError(kind, message), "loc": ("options", *where), "input": None}  # no context: as is
        for kind, message, where in problems])


def _option_problems(exc: ValidationError, recipe) -> list[tuple[str, str, tuple]]:
    """The Options schema's errors as lines at ``options.<key>``: an unknown key names the known ones."""
    from seqpipe.registry import did_you_mean

    known = list(recipe.Options.model_fields)
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            out.append(("unknown_option", f"unknown option '{key}' of recipe {recipe.name}; expected one of "
                                          f"{', '.join(known)}{did_you_mean(key, known)}", loc))
            continue
        message = error["msg"].replace("Input should be", "must be")
        if error["type"] not in ("value_error", "assertion_error") and not isinstance(error.get("input"), (dict, list)):
            message += f"; got {error.get('input')!r}"
        out.append(("recipe_option", message.replace("Value error, ", ""), loc))
    return out


class SplitConfig(Schema):
    """How the examples are divided into train, valid and test splits."""

    valid: float = Field(
        0.1, ge=0, lt=0.5,
        description="Fraction of rows (of groups, with group_by) held out for validation; not used "
        "when source.valid or the recipe gives the valid split.",
    )
    test: float = Field(
        0.1, ge=0, lt=0.5,
        description="Fraction of rows (of groups, with group_by) held out for the test; not used "
        "when source.test or the recipe gives the test split.",
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


def _true_false_or_auto(value: Any) -> Any:
    """One message for a value that is none of true, false and auto (not one per member of the union)."""
    if isinstance(value, bool) or value == "auto":
        return value
    raise PydanticCustomError("true_false_or_auto", "must be true, false or auto")


class DataConfig(Schema):
    """The ``data`` section: the source of the examples and how to split them."""

    source: SourceConfig = Field(description="Where the examples come from.")
    split: SplitConfig = Field(
        default_factory=SplitConfig,
        description="How the rows are split into train, valid and test. Only the splits that no "
        "file or recipe gives are carved (from the one table, or from the train rows); stratify and "
        "group_by apply to that carving only.",
    )
    on_error: Literal["fail", "skip"] = Field(
        "fail",
        description="What a bad row does (blank, ragged, an empty value, bytes that are not UTF-8, "
        "invalid JSON, token and tag counts that differ, more than max_tokens): 'fail' stops before "
        "training with one line naming the file, the rows and what was expected; 'skip' drops such rows, "
        "logs how many and why, and records the count (MLflow metric data_skipped_rows). A problem of a "
        "whole file (missing, empty, a missing column, another encoding) always stops the run.",
    )
    max_tokens: int | None = Field(
        None, ge=1,
        description="Most whitespace-separated tokens a row's first column (the text the model reads: "
        "text, source or tokens) may hold, in every split; a longer row is a bad row (see on_error). "
        "null: no limit.",
    )

    streaming: Annotated[bool | Literal["auto"], BeforeValidator(_true_false_or_auto)] = Field(
        "auto",
        description="Read the training split as a stream (a tf.data pipeline over its files, tokenized in the graph, "
        "never held whole in memory) instead of into memory: true, false, or 'auto' (the default), which streams "
        f"when the training files hold more than {STREAM_ABOVE_MB} MiB on disk and the run can stream (the log says "
        "which). Streaming needs a task that can stream (validation names them), source.train with its own valid "
        "and test files (kept in memory), TSV shards or parallel text files, and no source.limit; see docs/data.md.",
    )
    shuffle_buffer: int = Field(
        50_000, ge=1,
        description="Streamed training split: rows held in the shuffle buffer (shards are also read in a seeded "
        "order and interleaved). Larger mixes better and holds more rows in memory.",
    )

    def stream_refusal(self) -> str | None:
        """Why this data section cannot be streamed (None: it can)."""
        source = self.source
        if source.train is None:
            return "it needs source.train with valid and test files of their own (got source." + (
                "recipe" if source.recipe is not None else "path") + ")"
        missing = [name for name in ("valid", "test") if getattr(source, name) is None and getattr(self.split, name)]
        if missing:
            return f"data.split would carve {' and '.join(missing)} from the training rows; give source." + \
                " and source.".join(missing) + " files (or set data.split." + "/".join(missing) + ": 0)"
        if source.limit is not None:
            return "source.limit samples the whole table; remove it"
        if self.split.group_by is not None:
            return "split.group_by carves whole groups; remove it"
        if source.tagset != "original":
            return "source.tagset maps a recipe's tags"
        if not isinstance(source.train, dict) and source.format not in ("auto", "tsv"):
            return f"a stream reads TSV shards or parallel text files; got source.format: {source.format}"
        return None

    def holds(self, split: str) -> bool:
        """Whether ``split`` (train, valid or test) will have rows: a file or the recipe gives it, or
        data.split carves a non-zero fraction of it (train always has rows)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        if split == "train" or getattr(self.source, split) is not None:
            return True
        if self.source.recipe is not None and split in DATASETS.get(self.source.recipe).splits_for(self.source.options):
            return True
        return getattr(self.split, split) > 0
