"""train.scheduled_sampling in a whole translation pipeline."""

from __future__ import annotations

import numpy as np


def test_a_translation_pipeline_trains_with_scheduled_sampling_and_exports_a_plain_model(tmp_path):
    """train.scheduled_sampling in a tiny translation run: the ratio per epoch in the history; none of it saved."""
    import pandas as pd

    import seqpipe
    from seqpipe.saving import load_model

    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta eps zeta".split()
    rows = ["source\ttarget"] + [" ".join(s) + "\t" + " ".join(reversed(s))
                                 for s in (rng.choice(words, size=rng.integers(2, 5)) for _ in range(120))]
    (tmp_path / "pairs.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {"name": "ss", "task": "translation", "tracking": {"backend": "none"},
              "output_dir": str(tmp_path / "runs"),
              "data": {"source": {"path": "pairs.tsv"}, "split": {"valid": 0.1, "test": 0.1}},
              "stages": [{"tokenize": {"max_length": 8}}, {"embed": {"dim": 8}}, {"encode": {"units": 8}},
                         {"decode": {"units": 8, "dropout": 0.1}},
                         {"train": {"epochs": 2, "batch_size": 16, "bucketing": False, "validation_subset": 4,
                                    "scheduled_sampling": {"schedule": "exponential", "k": 0.9, "min_ratio": 0.2}}},
                         {"generate": {"decoding": {"strategy": "greedy"}, "heatmaps": 0}},
                         {"evaluate": {"metrics": ["bleu"]}}, {"export": {"log_model": False}}]}
    result = seqpipe.run(config, base_dir=tmp_path, progress=False)
    history = pd.read_csv(result.run_dir / "history.csv")
    steps = -(-96 // 16)  # 96 training pairs in batches of 16
    np.testing.assert_allclose(history["teacher_forcing_ratio"], [max(0.2, 0.9 ** (steps - 1)),
                                                                   max(0.2, 0.9 ** (2 * steps - 1))], rtol=1e-6)
    model = load_model(result.run_dir / "export" / "model.keras")
    assert not any("teacher_forcing" in w.path for w in model.weights)
    assert 0 <= result.metrics["test_bleu"] <= 100 + 1e-9
