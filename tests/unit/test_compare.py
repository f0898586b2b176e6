"""``seqpipe compare``: runs side by side from a real sqlite MLflow store built with MlflowClient (no training)."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seqpipe.cli import main
from seqpipe.compare import (
    compare_runs,
    default_metric,
    lower_is_better,
    markdown_table,
    render,
    short_param_names,
    sort_direction,
)
from seqpipe.compare_plots import plot_curves
from seqpipe.compare_store import select_runs
from seqpipe.errors import SeqpipeError

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = "rnn-sweep"
T0 = 1_760_000_000_000  # ms

# name: (cell, units, status, val_loss per epoch, test_accuracy, seconds)
SWEEP = {
    "lstm-64": ("lstm", "64", "FINISHED", [0.9, 0.7, 0.6], 0.80, 125),
    "lstm-128": ("lstm", "128", "FINISHED", [0.8, 0.6, 0.5], 0.85, 3725),
    "gru-64": ("gru", "64", "FINISHED", [0.85, 0.65, 0.55], 0.83, 42),
    "gru-128": ("gru", "128", "FAILED", [1.2, 1.1], None, 7),
}


def _run(client, experiment_id, name, params, *, status="FINISHED", seconds=60, tags=None, val_loss=(), finals=None):
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, run_name=name, tags=tags or {}, start_time=T0)
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    history = [Metric("val_loss", v, T0 + step, step) for step, v in enumerate(val_loss)]
    history += [Metric("loss", v + 0.1, T0 + step, step) for step, v in enumerate(val_loss)]
    history += [Metric(k, v, T0 + 10, 0) for k, v in (finals or {}).items()]
    client.log_batch(run_id, metrics=history)
    if status != "RUNNING":
        client.set_terminated(run_id, status, end_time=T0 + seconds * 1000)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite store: the 4-run sweep (one FAILED, one deleted extra), a parent with 2 nested children."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("compare") / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    ids = {}
    sweep = client.create_experiment(EXPERIMENT)
    for name, (cell, units, status, val_loss, accuracy, seconds) in SWEEP.items():
        finals = {"time_total_s": float(seconds), "test_f1/B-PER": 0.5}
        if accuracy is not None:
            finals.update(test_accuracy=accuracy, valid_accuracy=accuracy - 0.01, best_epoch=len(val_loss))
        ids[name] = _run(client, sweep, name, {"stages.encode.cell": cell, "stages.encode.units": units,
                                              "seed": "7", "name": "sweep"},
                         status=status, seconds=seconds, val_loss=val_loss, finals=finals,
                         tags={"task": "demo", "seqpipe.version": "0.1"})
    ids["deleted"] = _run(client, sweep, "deleted", {"stages.encode.cell": "rnn", "stages.encode.units": "8",
                                                     "seed": "7", "name": "sweep"}, finals={"test_accuracy": 0.99})
    client.delete_run(ids["deleted"])
    nested = client.create_experiment("nested-sweep")
    ids["parent"] = _run(client, nested, "parent", {"seed": "7"}, finals={"test_accuracy": 0.5})
    for index, (lr, status) in enumerate([("0.001", "FINISHED"), ("0.01", "RUNNING")]):
        ids[f"child-{index}"] = _run(client, nested, f"child-{index}", {"stages.train.optimizer.learning_rate": lr},
                                     status=status, val_loss=[0.5 - index / 10, 0.4 - index / 10],
                                     finals={"test_loss": 0.4 - index / 10},
                                     tags={"mlflow.parentRunId": ids["parent"]})
    ids["other"] = _run(client, nested, "unrelated", {"stages.train.optimizer.learning_rate": "0.1"},
                        finals={"test_loss": 0.1})
    client.create_experiment("translate-baselines")
    return uri, ids


def cli(capsys, *argv):
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------ sort direction


@pytest.mark.parametrize("metric", ["loss", "val_loss", "test_loss", "valid_perplexity", "test_ter", "valloss",
                                    "test_bits_per_char", "valid_bits_per_token", "test_mse", "time_total_s"])
def test_lower_is_better_for_losses_perplexity_ter_bits_mse(metric):
    assert lower_is_better(metric)
    assert sort_direction(metric) == "ascending"


@pytest.mark.parametrize("metric", ["test_accuracy", "test_bleu", "val_bleu", "test_macro_f1", "test_chrf",
                                    "test_meteor", "test_token_accuracy", "parameters", "test_f1/B-PER", "interval"])
def test_higher_is_better_for_scores(metric):
    assert not lower_is_better(metric)
    assert sort_direction(metric) == "descending"


# ------------------------------------------------------------------------------------------ the table


def test_only_differing_params_appear_with_stages_prefix_dropped(store):
    uri, _ = store
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri)
    assert list(table.columns) == ["run", "name", "status", "duration", "encode.cell", "encode.units",
                                   "test_accuracy", "valid_accuracy", "best_epoch"]
    assert "seed" not in table and "stages.encode.cell" not in table
    assert "time_total_s" not in table and not any("/" in c for c in table.columns)  # no per-label metrics
    assert "deleted" not in set(table["name"])
    assert table.attrs["metric"] == "test_accuracy" and table.attrs["ascending"] is False


def test_all_params_shows_equal_ones_too(store):
    uri, _ = store
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri, all_params=True)
    assert {"seed", "encode.cell", "encode.units", "params.name"} <= set(table.columns)
    assert set(table["seed"]) == {"7"}


def test_default_sort_is_test_accuracy_descending_runs_without_it_last(store):
    uri, ids = store
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri)
    assert list(table["name"]) == ["lstm-128", "gru-64", "lstm-64", "gru-128"]
    assert list(table.index) == [ids[n] for n in ["lstm-128", "gru-64", "lstm-64", "gru-128"]]
    assert list(table["run"]) == [ids[n][:8] for n in ["lstm-128", "gru-64", "lstm-64", "gru-128"]]
    assert table["test_accuracy"].tolist()[:3] == [0.85, 0.83, 0.80] and pd.isna(table["test_accuracy"].iloc[3])
    assert list(table["status"]) == ["FINISHED", "FINISHED", "FINISHED", "FAILED"]
    assert list(table["duration"]) == ["1h02m05s", "42.0s", "2m05s", "7.0s"]
    assert str(table["best_epoch"].dtype) == "Int64" and table["best_epoch"].iloc[0] == 3


def test_sort_by_a_loss_is_ascending_on_its_latest_value(store):
    uri, _ = store
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri, metric="val_loss")
    assert list(table["name"]) == ["lstm-128", "gru-64", "lstm-64", "gru-128"]
    assert table["val_loss"].tolist() == [0.5, 0.55, 0.6, 1.1]  # the last epoch's value, not the first
    assert table.columns[4:7].tolist() == ["encode.cell", "encode.units", "val_loss"]  # the sort metric first
    assert table.attrs["ascending"] is True


def test_limit_keeps_the_best_and_the_params_that_differ_among_them(store):
    uri, _ = store
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri, limit=2)
    assert list(table["name"]) == ["lstm-128", "gru-64"]
    assert {"encode.cell", "encode.units"} <= set(table.columns)
    table = compare_runs(experiment=EXPERIMENT, tracking_uri=uri, metric="val_loss", limit=1)
    assert list(table["name"]) == ["lstm-128"]
    assert "encode.cell" not in table and "encode.units" not in table  # one run: nothing differs


def test_runs_that_share_a_param_do_not_show_it(store):
    uri, ids = store
    table = compare_runs([ids["lstm-64"], ids["gru-64"]], tracking_uri=uri)
    assert "encode.units" not in table and "encode.cell" in table


def test_parent_selects_exactly_the_nested_children(store):
    uri, ids = store
    table = compare_runs(parent=ids["parent"], tracking_uri=uri)
    assert set(table.index) == {ids["child-0"], ids["child-1"]}
    assert table.attrs["metric"] == "test_loss"
    assert list(table["name"]) == ["child-1", "child-0"]  # test_loss 0.3 < 0.4
    assert dict(zip(table["name"], table["train.optimizer.learning_rate"])) == {"child-0": "0.001",
                                                                                "child-1": "0.01"}
    assert dict(zip(table["name"], table["duration"]))["child-1"] == "running"


def test_explicit_run_ids_full_and_short(store):
    uri, ids = store
    table = compare_runs([ids["gru-64"], ids["lstm-64"][:8], ids["gru-64"][:8]], tracking_uri=uri)
    assert list(table.index) == [ids["gru-64"], ids["lstm-64"]]  # duplicates once, sorted by test_accuracy
    assert list(table.columns) == ["run", "name", "status", "duration", "encode.cell", "test_accuracy",
                                   "valid_accuracy", "best_epoch"]


def test_default_metric_preference():
    class R:
        def __init__(self, *keys):
            self.data = type("D", (), {"metrics": dict.fromkeys(keys, 1.0)})()

    assert default_metric([R("test_accuracy"), R("test_bleu", "loss")]) == "test_bleu"
    assert default_metric([R("val_loss", "test_loss")]) == "test_loss"
    assert default_metric([R("test_zeta", "test_alpha/x", "test_beta")]) == "test_beta"
    assert default_metric([R("parameters")]) is None


def test_short_names_keep_the_prefix_when_they_would_clash():
    assert short_param_names(["stages.encode.cell", "train.epochs", "stages.train.epochs", "name"],
                             reserved=["name"]) == {"stages.encode.cell": "encode.cell", "train.epochs": "train.epochs",
                                                    "stages.train.epochs": "stages.train.epochs",
                                                    "name": "params.name"}


# ------------------------------------------------------------------------------------------ selection errors


def test_missing_experiment_exits_2_with_one_line_and_did_you_mean(store, capsys):
    uri, _ = store
    code, out, err = cli(capsys, "--experiment", "rnn-sweeep", "--tracking-uri", uri)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "no experiment 'rnn-sweeep'" in lines[0] and "(did you mean 'rnn-sweep'?)" in lines[0]
    assert "experiments: Default, nested-sweep, rnn-sweep, translate-baselines" in lines[0]


def test_missing_run_exits_2_naming_it(store, capsys):
    uri, ids = store
    typo = ids["gru-64"][:-1] + ("0" if ids["gru-64"][-1] != "0" else "1")
    code, _, err = cli(capsys, ids["lstm-64"], typo, "--tracking-uri", uri)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"no run '{typo}'" in err and f"did you mean '{ids['gru-64']}'" in err and "experiments: " in err
    code, _, err = cli(capsys, "--parent", "nope", "--tracking-uri", uri)
    assert code == 2 and "no run 'nope'" in err


def test_parent_without_children_and_empty_experiment(store, capsys):
    uri, ids = store
    code, _, err = cli(capsys, "--parent", ids["lstm-64"], "--tracking-uri", uri)
    assert code == 2 and "has no nested child runs" in err
    code, _, err = cli(capsys, "--experiment", "translate-baselines", "--tracking-uri", uri)
    assert code == 2 and "has no runs" in err


@pytest.mark.parametrize("argv", [[], ["--experiment", EXPERIMENT, "--parent", "x"], ["abcd", "--parent", "x"]])
def test_exactly_one_selection_mode(store, capsys, argv):
    uri, _ = store
    code, _, err = cli(capsys, *argv, "--tracking-uri", uri)
    assert code == 2 and "give exactly one of --experiment NAME, --parent RUN_ID or run ids" in err


def test_unknown_metric_lists_the_metrics(store, capsys):
    uri, _ = store
    code, _, err = cli(capsys, "--experiment", EXPERIMENT, "--metric", "test_acuracy", "--tracking-uri", uri)
    assert code == 2 and "(did you mean 'test_accuracy'?)" in err and len(err.strip().splitlines()) == 1


def test_a_missing_sqlite_store_is_an_error_and_is_not_created(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = cli(capsys, "--experiment", EXPERIMENT)
    assert code == 2 and "no tracking store at sqlite:///" in err and "mlflow.db" in err
    assert not (tmp_path / "mlflow.db").exists()


def test_tracking_uri_comes_from_the_environment(store, capsys, monkeypatch):
    uri, _ = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, out, _ = cli(capsys, "--experiment", EXPERIMENT)
    assert code == 0 and "lstm-128" in out


# ------------------------------------------------------------------------------------------ formats


def test_table_format_is_aligned_text(store, capsys):
    uri, ids = store
    code, out, _ = cli(capsys, "--experiment", EXPERIMENT, "--tracking-uri", uri)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "name", "status", "duration", "encode.cell", "encode.units", "test_accuracy",
                                "valid_accuracy", "best_epoch"]
    assert lines[1].split()[:2] == [ids["lstm-128"][:8], "lstm-128"] and "0.8500" in lines[1]
    assert lines[4].split()[-3:] == ["-", "-", "-"]  # the FAILED run has no test metrics
    assert len({len(line) for line in lines}) == 1  # aligned


def test_csv_parses_back_to_the_same_values(store, capsys):
    uri, _ = store
    expected = compare_runs(experiment=EXPERIMENT, tracking_uri=uri)
    code, out, _ = cli(capsys, "--experiment", EXPERIMENT, "--format", "csv", "--tracking-uri", uri)
    assert code == 0
    parsed = pd.read_csv(io.StringIO(out), dtype={"encode.units": str, "run": str})
    assert list(parsed.columns) == ["run_id", *expected.columns]
    assert list(parsed["run_id"]) == list(expected.index)
    for column in ["run", "name", "status", "duration", "encode.cell", "encode.units"]:
        assert list(parsed[column]) == list(expected[column])
    for column in ["test_accuracy", "valid_accuracy", "best_epoch"]:
        pd.testing.assert_series_equal(parsed[column].astype(float), expected[column].astype(float).reset_index(
            drop=True), check_names=False)


def test_json_records_parse_back_to_the_same_values(store, capsys):
    uri, ids = store
    code, out, _ = cli(capsys, "--experiment", EXPERIMENT, "--format", "json", "--metric", "val_loss",
                       "--tracking-uri", uri)
    assert code == 0
    records = json.loads(out)
    assert [r["name"] for r in records] == ["lstm-128", "gru-64", "lstm-64", "gru-128"]
    assert records[0] == {"run_id": ids["lstm-128"], "run": ids["lstm-128"][:8], "name": "lstm-128",
                          "status": "FINISHED", "duration": "1h02m05s", "encode.cell": "lstm", "encode.units": "128",
                          "val_loss": 0.5, "test_accuracy": 0.85, "valid_accuracy": 0.84, "best_epoch": 3}
    assert records[3]["test_accuracy"] is None and records[3]["best_epoch"] is None


def test_markdown_parses_back_to_the_same_values(store, capsys):
    uri, _ = store
    expected = compare_runs(experiment=EXPERIMENT, tracking_uri=uri)
    code, out, _ = cli(capsys, "--experiment", EXPERIMENT, "--format", "markdown", "--tracking-uri", uri)
    assert code == 0
    lines = out.strip().splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    assert cells[0] == list(expected.columns)
    assert all(set(c) <= set("-:") for c in cells[1]) and cells[1][-1].endswith(":")  # numbers right-aligned
    assert len(cells) == 2 + len(expected)
    for row, (_, want) in zip(cells[2:], expected.iterrows()):
        assert row[:6] == [str(v) for v in want.iloc[:6]]
        for got, value in zip(row[6:], want.iloc[6:]):
            assert (got == "") if pd.isna(value) else float(got) == pytest.approx(float(value), abs=5e-5)
    assert len({len(line) for line in lines}) == 1


def test_whole_number_metrics_show_without_decimals():
    table = pd.DataFrame({"name": ["a", "b"], "test_examples": [2000.0, math.nan], "test_accuracy": [0.5, 1.0]})
    assert render(table, "table").splitlines() == ["name test_examples test_accuracy",
                                                   "   a          2000        0.5000",
                                                   "   b             -        1.0000"]
    assert markdown_table(table).splitlines()[3] == "| b    |               |        1.0000 |"


def test_markdown_escapes_pipes():
    text = markdown_table(pd.DataFrame({"name": ["a|b"], "x": [1.5]}))
    assert text.splitlines()[2] == "| a\\|b | 1.5000 |"


# ------------------------------------------------------------------------------------------ the plot


def test_plot_has_one_panel_per_metric_with_history_and_one_line_per_run(store, tmp_path):
    uri, ids = store
    path = tmp_path / "curves" / "sweep.png"
    fig = plot_curves(path, experiment=EXPERIMENT, tracking_uri=uri)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val_loss"]  # not test_*, time_*, best_epoch
    val_loss = fig.axes[1]
    labels = [line.get_label() for line in val_loss.get_lines()]
    assert labels == ["lstm-128 (encode.cell=lstm, encode.units=128)", "gru-64 (encode.cell=gru, encode.units=64)",
                      "lstm-64 (encode.cell=lstm, encode.units=64)",
                      "gru-128 [FAILED] (encode.cell=gru, encode.units=128)"]
    first = val_loss.get_lines()[0]
    assert list(first.get_xdata()) == [1, 2, 3] and list(first.get_ydata()) == [0.8, 0.6, 0.5]
    assert val_loss.get_lines()[3].get_linestyle() == "--"
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4
    assert fig.canvas.__class__.__name__ == "FigureCanvasAgg"


def test_cli_plot_writes_the_png_of_the_tables_runs(store, tmp_path, capsys):
    uri, ids = store
    path = tmp_path / "children.png"
    code, out, err = cli(capsys, "--parent", ids["parent"], "--plot", str(path), "--tracking-uri", uri)
    assert code == 0 and path.stat().st_size > 1000 and f"wrote {path}" in err
    fig = plot_curves(None, parent=ids["parent"], tracking_uri=uri, limit=1)
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1]


def test_plot_without_any_history_is_an_error(store):
    uri, ids = store
    with pytest.raises(SeqpipeError, match="nothing to plot"):
        plot_curves(None, [ids["parent"]], tracking_uri=uri)


def test_select_runs_returns_mlflow_runs_newest_first(store):
    uri, ids = store
    runs = select_runs(experiment="nested-sweep", tracking_uri=uri)
    assert {r.info.run_id for r in runs} == {ids["parent"], ids["child-0"], ids["child-1"], ids["other"]}


# ------------------------------------------------------------------------------------------ import weight


def test_importing_compare_does_not_import_tensorflow():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", "import sys, seqpipe.compare, seqpipe.compare_plots; "
                    "assert 'tensorflow' not in sys.modules; "
                    "import seqpipe.cli; assert 'tensorflow' not in sys.modules"], check=True, env=env, cwd=REPO)


# ------------------------------------------------------------------------------------------ unreachable server


def test_an_unreachable_server_is_one_line_exit_2(capsys, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, _, err = cli(capsys, "--experiment", EXPERIMENT, "--tracking-uri", f"http://127.0.0.1:{port}")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err == (f"compare: no tracking server answers at http://127.0.0.1:{port} (connection refused); "
                   "check --tracking-uri / MLFLOW_TRACKING_URI\n")


def test_few_retries_unless_the_user_chose(monkeypatch):
    from seqpipe.compare_store import _few_retries

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with _few_retries():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    with _few_retries():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"
