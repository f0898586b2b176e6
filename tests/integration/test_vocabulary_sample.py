"""tokenize.sample_lines: vocabularies come from a seeded sample of at most that many training rows, logged with the
vocabulary's coverage of it."""

from __future__ import annotations

from pathlib import Path

import seqpipe


def pipeline(sample_lines: int | None) -> dict:
    tokenize = {"kind": "word", "vocab_size": 500, **({"sample_lines": sample_lines} if sample_lines else {})}
    return {"name": "sample", "task": "classification", "seed": 3, "tracking": {"backend": "none"},
            "data": {"source": {"path": "data.tsv"}, "split": {"valid": 0.1, "test": 0.1}},
            "stages": [{"tokenize": tokenize}, {"embed": {"dim": 4}}, {"encode": {"cell": "gru", "units": 4}},
                       {"classify": {}}, {"train": {"epochs": 1, "batch_size": 32}},
                       {"export": {"keras": False, "log_model": False}}]}


def test_the_vocabulary_comes_from_a_bounded_seeded_sample(tmp_path):
    rows = ["text\tlabel"] + [f"word{i} common{i % 3} w{i % 50}\t{('a', 'b')[i % 2]}" for i in range(200)]
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    runs = {}
    for n in (None, 20, 20):
        result = seqpipe.run(pipeline(n), base_dir=tmp_path, progress=False, cache=False)
        runs.setdefault(n, []).append((Path(result.run_dir) / "vocab.txt").read_text(encoding="utf-8").split("\n"))
        log = (Path(result.run_dir) / "run.log").read_text(encoding="utf-8")
        assert f"vocabulary sample: {n or 160} of 160 training rows" in log  # 200 rows less valid and test
        assert "covering" in log
    whole, sampled = runs[None][0], runs[20][0]
    assert runs[20][1] == sampled  # the same seed draws the same sample
    words = [w for w in sampled if w.startswith("word")]
    assert len(words) == 20 and len([w for w in whole if w.startswith("word")]) == 160
