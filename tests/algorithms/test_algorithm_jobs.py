"""Built-in algorithm jobs: XGBoost algorithm mode run locally gives the model a direct
``xgb.train`` gives and the container's metric lines; the request is the SDK's; bad
hyperparameters and badly formatted data are refused before anything is created."""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagelift import cli, formats, jobs
from sagelift.algorithms import algorithm, algorithm_image_uri
from sagelift.backends.base import JobState
from sagelift.backends.local import opt_ml_bindable
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.uploads import ShippedChannel

xgb = pytest.importorskip("xgboost")

# XGBoost logs through a ctypes callback that turns its warnings (URI data sources, the model
# file's format) into Python warnings; they say nothing about sagelift.
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)

GOLDEN = Path(__file__).parent.parent / "golden" / "requests" / "sdk_xgboost_estimator.json"
ROLE = "arn:aws:iam::123456789012:role/sagelift-test"
PARAMS = {
    "num_round": 8,
    "eta": 0.3,
    "max_depth": 3,
    "objective": "binary:logistic",
    "eval_metric": "auc",
}
WRITERS = {"text/csv": formats.write_csv, "text/libsvm": formats.write_libsvm}


def _toml(**config: Any) -> str:
    lines = []
    tables = {k: v for k, v in config.items() if isinstance(v, dict)}
    for key, value in config.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for name, table in tables.items():
        plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if plain:
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in plain.items()]
        for sub, inner in table.items():
            if isinstance(inner, dict):
                lines.append(f"[{name}.{sub}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in inner.items()]
    return "\n".join(lines) + "\n"


def _project(root: Path, content_type: str, **config: Any) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    # No zeros, so every libsvm row names every index and all matrices have one width.
    features = rng.random((400, 6)) + 0.01
    labels = (features[:, 0] + features[:, 1] > 1.0).astype(np.int64)
    for name, rows in (("train", slice(0, 250)), ("validation", slice(250, 320))):
        (root / "data" / name).mkdir(parents=True)
        WRITERS[content_type](root / "data" / name / "part-0", features[rows], labels[rows])
    channels = {
        name: {"path": f"data/{name}", "content_type": content_type}
        for name in ("train", "validation")
    }
    body = {
        "algorithm": "xgboost",
        "algorithm_version": "1.7-1",
        **config,
        "hyperparameters": config.pop("hyperparameters", PARAMS),
        "channels": channels,
    }
    (root / "sagelift.toml").write_text(_toml(**body), encoding="utf-8")
    return root, features[320:], labels[320:]


def _direct_model(root: Path, content_type: str) -> Any:
    """The model XGBoost trains on the same data, loaded as the container loads it."""

    def matrix(name: str) -> Any:
        path = root / "data" / name / "part-0"
        if content_type == "text/libsvm":
            return xgb.DMatrix(f"{path}?format=libsvm")
        return xgb.DMatrix(f"{path}?format=csv&label_column=0")

    params = {k: v for k, v in PARAMS.items() if k != "num_round"}
    return xgb.train(
        params,
        matrix("train"),
        num_boost_round=PARAMS["num_round"],
        evals=[(matrix("validation"), "validation")],
        verbose_eval=False,
    )


@pytest.mark.skipif(not opt_ml_bindable(), reason="/opt/ml cannot be bound on this machine")
@pytest.mark.parametrize("content_type", ["text/csv", "text/libsvm"])
def test_local_xgboost_matches_direct_training(
    tmp_path: Path, clean_environ: dict[str, str], content_type: str
) -> None:
    root, held_out, _ = _project(tmp_path / "proj", content_type)
    lines: list[str] = []
    result = jobs.run(jobs.load_spec(root, environ=clean_environ), on_line=lines.append)
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    with tarfile.open(result.status.model_artifacts) as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        local = xgb.Booster(model_file=bytearray(member.read()))
    direct = _direct_model(root, content_type)
    if content_type == "text/libsvm":
        # XGBoost's libsvm parser keeps index k in column k: column 0 stays empty.
        held_out = np.hstack([np.zeros((held_out.shape[0], 1)), held_out])
    data = xgb.DMatrix(held_out)
    assert np.array_equal(local.predict(data), direct.predict(data))
    rounds = [line for line in lines if re.match(r"\[\d+\]\ttrain-auc:", line)]
    assert len(rounds) == PARAMS["num_round"]
    assert "\tvalidation-auc:" in rounds[-1]
    final = float(rounds[-1].rsplit("validation-auc:", 1)[1])
    direct_auc = float(
        direct.eval(
            xgb.DMatrix(
                f"{root}/data/validation/part-0"
                + ("?format=libsvm" if "libsvm" in content_type else "?format=csv&label_column=0")
            ),
            "validation",
        ).rsplit(":", 1)[1]
    )
    assert final == pytest.approx(direct_auc, abs=1e-5)


def test_the_validation_metric_is_defined_for_tracking(
    tmp_path: Path, clean_environ: dict[str, str]
) -> None:
    root, _, _ = _project(tmp_path / "proj", "text/csv")
    spec = jobs.load_spec(root, environ=clean_environ)
    regex = {m.name: m.regex for m in spec.metric_definitions}["validation:auc"]
    for line in (
        "[7]\ttrain-auc:0.99\tvalidation-auc:0.9731",
        "[7]#011train-auc:0.99#011validation-auc:0.9731",
    ):
        match = re.search(regex, line)
        assert match is not None
        assert match.group(1) == "0.9731"


def test_the_request_matches_the_sdk_estimator(
    tmp_path: Path, clean_environ: dict[str, str]
) -> None:
    """The SDK's CreateTrainingJob for ``Estimator(image_uri=image_uris.retrieve("xgboost",
    "us-east-1", "1.7-1"))`` (captured from SDK 2.257.7 into the golden file) equals sagelift's,
    except the SDK's debugger/profiler defaults, sagelift's tags and environment, and the
    API's default ``CompressionType: None`` sagelift states on each channel."""
    root, _, _ = _project(
        tmp_path / "proj",
        "text/csv",
        instance_type="ml.m5.xlarge",
        hyperparameters={"num_round": 20, "eta": 0.3, "objective": "binary:logistic"},
    )
    spec = jobs.load_spec(root, environ=clean_environ)
    spec = replace(spec, environment={})
    channels = [
        ShippedChannel(
            name=c.name, uri=f"s3://bucket/data/{c.name}", bytes_uploaded=0, files_uploaded=0
        )
        for c in spec.channels
    ]
    ours = build_create_training_job_request(
        spec,
        job_name="xgb-golden",
        role_arn=ROLE,
        image_uri=algorithm_image_uri("xgboost", "1.7-1", region="us-east-1"),
        output_path="s3://bucket/out",
        code=None,
        channels=channels,
        region="us-east-1",
        tags={},
        checkpoint_s3_uri=None,
    )
    validate_request(ours)
    for channel in ours["InputDataConfig"]:
        assert channel.pop("CompressionType", "None") == "None"
    sdk = json.loads(GOLDEN.read_text(encoding="utf-8"))
    ignored_sdk = {"DebugHookConfig", "ProfilerConfig"}
    assert set(ours) - set(sdk) <= {"Tags", "Environment"}
    for key in set(sdk) - ignored_sdk:
        assert ours[key] == sdk[key], key


@pytest.mark.parametrize(
    ("name", "version", "region", "uri"),
    [
        (
            "xgboost",
            "1.7-1",
            "eu-west-1",
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        ),
        (
            "xgboost",
            "1.7-1",
            "cn-north-1",
            "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1",
        ),
        (
            "linear-learner",
            "1",
            "us-east-1",
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        ),
        ("kmeans", "1", "eu-west-1", "438346466558.dkr.ecr.eu-west-1.amazonaws.com/kmeans:1"),
        (
            "factorization-machines",
            "1",
            "us-east-1",
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1",
        ),
    ],
)
def test_image_uris_are_the_sdks(name: str, version: str, region: str, uri: str) -> None:
    """Values printed by the SDK's ``image_uris.retrieve`` for the same arguments."""
    assert algorithm_image_uri(name, version, region=region) == uri


def test_every_algorithm_documents_channels_metrics_and_hyperparameters() -> None:
    for name in ("xgboost", "linear-learner", "kmeans", "factorization-machines"):
        found, version = algorithm(name)
        assert version in found.versions
        assert "train" in found.channels
        assert found.metrics
        assert found.parameters


def _refused(tmp_path: Path, argv: list[str], root: Path, needles: tuple[str, ...]) -> None:
    out, err = io.StringIO(), io.StringIO()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--project", str(root), *argv])
    text = err.getvalue()
    assert code == 2, text
    for needle in needles:
        assert needle in text
    assert "Traceback" not in text
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (root / ".sagelift").exists()


@pytest.mark.parametrize("instance", ["local", "ml.m5.xlarge"])
def test_eta_out_of_range_is_refused_with_the_range(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, instance: str
) -> None:
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    root, _, _ = _project(
        tmp_path / "proj", "text/csv", instance_type=instance, hyperparameters={**PARAMS, "eta": 3}
    )
    _refused(tmp_path, ["run"], root, ("hyperparameters.eta", "[0, 1]"))


@pytest.mark.parametrize(
    ("content_type", "text", "needles"),
    [
        ("text/csv", "label,f1,f2\n1,0.5,0.25\n", ("header",)),
        ("text/libsvm", "1 0:0.5 2:0.25\n", ("1-based", "add 1")),
    ],
)
def test_badly_formatted_data_is_refused_before_upload(
    tmp_path: Path,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    content_type: str,
    text: str,
    needles: tuple[str, ...],
) -> None:
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    root, _, _ = _project(tmp_path / "proj", content_type, instance_type="ml.m5.xlarge")
    (root / "data" / "train" / "part-0").write_text(text, encoding="utf-8")
    _refused(tmp_path, ["run"], root, ("channels.train", *needles))


@pytest.mark.parametrize(
    ("hyperparameters", "needles"),
    [
        ({"eta": 0.3}, ("num_round", "requires")),
        ({"num_round": 1.5}, ("num_round", "integer")),
        ({"num_round": 5, "objective": "binary:logistc"}, ("objective", "binary:logistic")),
        ({"num_round": 5, "etta": 0.1}, ("etta", "did you mean 'eta'")),
    ],
)
def test_bad_xgboost_hyperparameters_are_refused(
    tmp_path: Path,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    hyperparameters: dict[str, Any],
    needles: tuple[str, ...],
) -> None:
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    root, _, _ = _project(tmp_path / "proj", "text/csv", hyperparameters=hyperparameters)
    _refused(tmp_path, ["run"], root, needles)


def test_a_closed_source_algorithm_is_refused_locally(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    root = tmp_path / "proj"
    (root / "data" / "train").mkdir(parents=True)
    formats.write_recordio(
        root / "data" / "train" / "part-0",
        np.ones((4, 3), dtype=np.float32),
        np.ones(4, dtype=np.float32),
    )
    (root / "sagelift.toml").write_text(
        _toml(
            algorithm="kmeans",
            hyperparameters={"k": 2, "feature_dim": 3},
            channels={
                "train": {"path": "data/train", "content_type": "application/x-recordio-protobuf"}
            },
        ),
        encoding="utf-8",
    )
    _refused(tmp_path, ["run"], root, ("closed source", "only on SageMaker"))
