"""Classification metrics against hand-computed values."""

from fractions import Fraction

import numpy as np
import pytest

from seqpipe.metrics import METRICS, confusion_matrix, label_report, plot_confusion_matrix

# class 0: tp=2 fp=0 fn=1 -> P=1   R=2/3 F1=4/5
# class 1: tp=1 fp=1 fn=1 -> P=1/2 R=1/2 F1=1/2
# class 2: tp=1 fp=1 fn=0 -> P=1/2 R=1   F1=2/3
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]
F1 = [Fraction(4, 5), Fraction(1, 2), Fraction(2, 3)]
SUPPORT = [3, 2, 1]


def test_registry_names():
    expected = {"accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall"}
    assert expected <= set(METRICS.names())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("accuracy", Fraction(4, 6)),
        ("macro_f1", sum(F1) / 3),  # 59/90
        ("weighted_f1", sum(f * s for f, s in zip(F1, SUPPORT)) / 6),  # 61/90
        ("macro_precision", Fraction(2, 3)),
        ("macro_recall", Fraction(13, 18)),
    ],
)
def test_metric_values(name, expected):
    assert METRICS.get(name)(Y_TRUE, Y_PRED, 3) == pytest.approx(float(expected), abs=1e-12)


def test_unseen_class_counts_as_zero_in_macro_average():
    assert METRICS.get("macro_f1")(Y_TRUE, Y_PRED, 4) == pytest.approx(59 / 120)
    assert METRICS.get("weighted_f1")(Y_TRUE, Y_PRED, 4) == pytest.approx(61 / 90)


def test_label_report():
    report = label_report(Y_TRUE, Y_PRED, ["neg", "neu", "pos"])
    assert list(report.index) == ["neg", "neu", "pos", "macro avg", "weighted avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    np.testing.assert_allclose(report["f1"].iloc[:3], [float(f) for f in F1])
    np.testing.assert_allclose(report["precision"].iloc[:3], [1, 0.5, 0.5])
    np.testing.assert_allclose(report["recall"].iloc[:3], [2 / 3, 0.5, 1])
    assert report["support"].tolist() == [3, 2, 1, 6, 6]
    assert report.loc["macro avg", "f1"] == pytest.approx(59 / 90)
    assert report.loc["weighted avg", "f1"] == pytest.approx(61 / 90)


def test_confusion_matrix():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    np.testing.assert_array_equal(cm, [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])


def test_plot_confusion_matrix_writes_png(tmp_path):
    from matplotlib.image import imread

    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)  # the empty last row must not divide by zero
    path = plot_confusion_matrix(cm, ["neg", "neu", "pos", "other"], tmp_path / "plots" / "cm.png")
    assert path == tmp_path / "plots" / "cm.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert height >= 300 and width >= 300
