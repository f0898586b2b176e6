"""Keys that several tasks add to a generic stage, defined once (see ``Task.stage_keys``)."""

from __future__ import annotations

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.decoding import DecodingConfig


class BucketingKeys(Schema):
    """train: batch examples of similar length together."""

    bucketing: bool = Field(True, description="batch examples of similar length together (less padding)")


class TokenLossKeys(Schema):
    """train: the token-level cross-entropy of models that predict the next token."""

    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the token cross-entropy")


class ExportDecodingKeys(Schema):
    """export: how the exported model decodes."""

    decoding: DecodingConfig | None = Field(None, description="decoding inside the SavedModel's generate/translate "
                                                              "signature; default: the settings of the stage "
                                                              "that decodes")
