"""The first-party algorithms' metric definitions parse the lines those algorithms print.

The sample lines are copied from published training logs of SageMaker's linear learner (a
binary classifier's per-epoch validation loss; a multiclass classifier's final validation
scores) and from the developer guide's factorization machines example; each line must give
exactly the documented metric it reports, and no other."""

from __future__ import annotations

import re

import pytest

from sagelift.algorithms import algorithm

CASES = [
    (
        "linear-learner",
        "[11/24/2020 18:53:57 INFO 140513285547840] #quality_metric: host=algo-1, epoch=0, "
        "validation binary_classification_cross_entropy_objective <loss>=0.508278604365",
        {"validation:objective_loss": "0.508278604365"},
    ),
    (
        "linear-learner",
        "[07/01/2024 19:50:55 INFO 139723470354240] #quality_metric: host=algo-1, "
        "validation multiclass_cross_entropy_objective <loss>=0.177802592028485",
        {"validation:objective_loss": "0.177802592028485"},
    ),
    (
        "linear-learner",
        "[07/01/2024 19:50:55 INFO 139723470354240] #quality_metric: host=algo-1, "
        "validation multiclass_accuracy <score>=0.9469825155104343",
        {"validation:multiclass_accuracy": "0.9469825155104343"},
    ),
    (
        "linear-learner",
        "[07/01/2024 19:50:55 INFO 139723470354240] #quality_metric: host=algo-1, "
        "validation multiclass_top_k_accuracy_3 <score>=1.0",
        {"validation:multiclass_top_k_accuracy": "1.0"},
    ),
    (
        "linear-learner",
        "[07/01/2024 19:50:55 INFO 139723470354240] #quality_metric: host=algo-1, "
        "validation macro_f_1.000 <score>=0.9140763282775879",
        {"validation:macro_f_beta": "0.9140763282775879"},
    ),
    (
        "linear-learner",
        "[07/01/2024 19:50:55 INFO 139723470354240] #quality_metric: host=algo-1, "
        "validation macro_precision <score>=0.9028711915016174",
        {"validation:macro_precision": "0.9028711915016174"},
    ),
    (
        "linear-learner",
        "[03/22/2020 20:43:21 INFO 140403405219648] #quality_metric: host=algo-1, epoch=0, "
        "train mse_objective <loss>=0.968532333374",
        {},
    ),
    (
        "factorization-machines",
        "[02/23/2019 22:01:02 INFO 140697667364672] #test_score (algo-1) : "
        "('rmse', 0.19088356774389661)",
        {"test:rmse": "0.19088356774389661"},
    ),
    (
        "kmeans",
        "[02/23/2019 22:01:02 INFO 140697667364672] #test_score (algo-1) : ('msd', 12.5)",
        {"test:msd": "12.5"},
    ),
]


@pytest.mark.parametrize(("name", "line", "expected"), CASES)
def test_a_logged_line_gives_its_documented_metric(
    name: str, line: str, expected: dict[str, str]
) -> None:
    found, _ = algorithm(name)
    got = {
        metric: match.group(1)
        for metric, regex in found.metrics
        if (match := re.search(regex, line)) is not None
    }
    assert got == expected


DOCUMENTED = {
    # linear-learner-tuning.html, "Metrics computed by the linear learner algorithm"
    "linear-learner": {
        f"{channel}:{metric}"
        for channel in ("test", "validation")
        for metric in (
            "absolute_loss",
            "binary_classification_accuracy",
            "binary_f_beta",
            "dcg",
            "macro_f_beta",
            "macro_precision",
            "macro_recall",
            "mse",
            "multiclass_accuracy",
            "multiclass_top_k_accuracy",
            "objective_loss",
            "precision",
            "recall",
            "roc_auc_score",
        )
    },
    # k-means-tuning.html
    "kmeans": {"test:msd", "test:ssd"},
    # fm-tuning.html
    "factorization-machines": {
        "test:rmse",
        "test:binary_classification_accuracy",
        "test:binary_classification_cross_entropy",
        "test:binary_f_beta",
    },
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_the_metric_names_are_the_documented_ones(name: str) -> None:
    found, _ = algorithm(name)
    assert {metric for metric, _ in found.metrics} == DOCUMENTED[name]


@pytest.mark.parametrize(
    ("name", "hyperparameter", "value", "accepted"),
    [
        ("linear-learner", "normalize_data", "auto", True),
        ("linear-learner", "num_calibration_samples", "auto", True),
        ("linear-learner", "num_classes", 1_000_000, True),
        ("linear-learner", "num_classes", 1_000_001, False),
        ("linear-learner", "huber_delta", 0, False),
        ("linear-learner", "margin", 0, False),
        ("kmeans", "k", 1, True),
        ("factorization-machines", "eps", -1e-8, True),
    ],
)
def test_ranges_follow_the_hyperparameter_pages(
    name: str, hyperparameter: str, value: object, accepted: bool
) -> None:
    found, _ = algorithm(name)
    assert found.parameters[hyperparameter].accepts(value) is accepted
