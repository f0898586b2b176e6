import pytest
from pydantic import TypeAdapter, ValidationError

from seqpipe.decoding import STRATEGIES, BeamConfig, DecodingConfig, SamplingConfig


def test_registry_lists_the_strategies_and_suggests_names():
    assert STRATEGIES.names() == ["beam", "greedy", "sampling"]
    with pytest.raises(KeyError, match="did you mean 'beam'"):
        STRATEGIES.get("bean")
    for name, cls in STRATEGIES.items():
        assert cls.Config().strategy == name


@pytest.mark.parametrize("bad", [
    dict(beam_width=0), dict(beam_width=2, n_best=3), dict(length_penalty=-0.1),
    dict(coverage_penalty=-1), dict(beam_size=4)])
def test_beam_config_rejects(bad):
    with pytest.raises(ValidationError):
        BeamConfig(**bad)


@pytest.mark.parametrize("bad", [dict(temperature=0), dict(top_k=-1), dict(top_p=0), dict(top_p=1.5)])
def test_sampling_config_rejects(bad):
    with pytest.raises(ValidationError):
        SamplingConfig(**bad)


def test_decoding_config_is_chosen_by_strategy():
    adapter = TypeAdapter(DecodingConfig)
    config = adapter.validate_python({"strategy": "beam", "beam_width": 3, "length_penalty": 0.6})
    assert isinstance(config, BeamConfig) and config.beam_width == 3
    with pytest.raises(ValidationError):
        adapter.validate_python({"strategy": "greedy", "beam_width": 3})
    assert all(field.description for field in BeamConfig.model_fields.values())
