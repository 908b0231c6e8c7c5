from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from sagelift.contract.hyperparameters import (
    MAX_ENTRIES,
    SCRIPT_MODE_KEYS,
    JSONValue,
    decode_hyperparameters,
    encode_hyperparameters,
    split_reserved,
    to_cmd_args,
    validate_hyperparameters,
)
from sagelift.errors import SpecError, UsageError


def test_encode_is_json_dumps_of_every_value_like_sdk_v2() -> None:
    encoded = encode_hyperparameters(
        {"s": "abc", "i": 3, "f": 0.1, "b": True, "n": None, "l": [1, "x"], "d": {"a": 1}}
    )
    assert encoded == {
        "s": '"abc"',
        "i": "3",
        "f": "0.1",
        "b": "true",
        "n": "null",
        "l": '[1, "x"]',
        "d": '{"a": 1}',
    }
    assert list(encoded) == ["s", "i", "f", "b", "n", "l", "d"]


def test_decode_follows_the_toolkit_including_raw_fallback() -> None:
    decoded = decode_hyperparameters(
        {"i": "3", "b": "true", "s": '"abc"', "raw": "abc", "d": '{"a":1}', "empty": ""}
    )
    assert decoded == {"i": 3, "b": True, "s": "abc", "raw": "abc", "d": {"a": 1}, "empty": ""}


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "3",
        "",
        'say "hi"',
        "résumé",
        0,
        -7,
        2.5,
        1e-08,
        True,
        False,
        None,
        [1, [2]],
        {"a": {"b": [True]}},
    ],
)
def test_encode_then_decode_round_trips(value: JSONValue) -> None:
    assert decode_hyperparameters(encode_hyperparameters({"k": value})) == {"k": value}


def test_split_reserved_matches_toolkit_rules() -> None:
    decoded: dict[str, JSONValue] = {
        "epochs": 3,
        "sagemaker_program": "train.py",
        "sagemaker_mpi_enabled": True,
        "_tuning_objective_metric": "loss",
        "default_user_module_name": "m",
        "sagemakerish": 1,
        "SAGEMAKER_X": 2,
    }
    user, reserved = split_reserved(decoded)
    assert user == {"epochs": 3, "sagemakerish": 1, "SAGEMAKER_X": 2}
    assert list(reserved) == [
        "sagemaker_program",
        "sagemaker_mpi_enabled",
        "_tuning_objective_metric",
        "default_user_module_name",
    ]


def test_cmd_args_reproduce_the_observed_toolkit_invocation() -> None:
    # As sagemaker-training 5.1.4 runs it: "python -- train.py --epochs 3 --flag True --lr 0.01
    # --name abc --nested a=1"
    hps: dict[str, JSONValue] = {
        "nested": {"a": 1},
        "name": "abc",
        "lr": 0.01,
        "flag": True,
        "epochs": 3,
    }
    assert to_cmd_args(hps) == [
        "--epochs", "3", "--flag", "True", "--lr", "0.01", "--name", "abc", "--nested", "a=1",
    ]  # fmt: skip


def test_cmd_args_render_values_with_str_like_the_toolkit() -> None:
    hps: dict[str, JSONValue] = {
        "e": 5,
        "off": False,
        "none": None,
        "items": ["x", "y"],
        "opts": {"z": True, "a": {"n": 1}},
        "text": "two words",
    }
    assert to_cmd_args(hps) == [
        "-e", "5",
        "--items", "['x', 'y']",
        "--none", "",
        "--off", "False",
        "--opts", "a={'n': 1},z=True",
        "--text", "two words",
    ]  # fmt: skip
    assert to_cmd_args({}) == []


def test_validate_accepts_typical_values() -> None:
    validate_hyperparameters(
        {
            "epochs": 3,
            "lr": 1e-3,
            "name": "x",
            "flag": True,
            "none": None,
            "t": (1, 2),
            "d": {"a": [1]},
        }
    )


def test_validate_counts_the_keys_sagelift_adds() -> None:
    room = MAX_ENTRIES - len(SCRIPT_MODE_KEYS)
    validate_hyperparameters({f"k{i}": i for i in range(room)})
    with pytest.raises(SpecError) as info:
        validate_hyperparameters({f"k{i}": i for i in range(room + 1)})
    assert info.value.field == "hyperparameters"
    assert info.value.hint
    # Already-rendered mappings are not double counted.
    rendered: dict[str, JSONValue] = {
        **{f"k{i}": i for i in range(room)},
        **dict.fromkeys(SCRIPT_MODE_KEYS, "x"),
    }
    validate_hyperparameters(rendered)


def test_validate_key_length_limit() -> None:
    validate_hyperparameters({"k" * 256: 1})
    with pytest.raises(SpecError) as info:
        validate_hyperparameters({"k" * 257: 1})
    assert info.value.field == "hyperparameters." + "k" * 257
    assert "257" in info.value.message
    assert "\n" not in info.value.message


def test_validate_encoded_value_length_limit() -> None:
    validate_hyperparameters({"v": "x" * 2498})  # 2500 once quoted
    with pytest.raises(SpecError) as info:
        validate_hyperparameters({"v": "x" * 2499})
    assert info.value.field == "hyperparameters.v"
    assert "2501" in info.value.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (dt.datetime(2026, 1, 1), "datetime"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        ({"outer": {1: "x"}}, "non-string key 1"),
        ([1, {2, 3}], "[1] is a set"),
        (b"bytes", "bytes"),
    ],
)
def test_validate_rejects_values_that_do_not_round_trip(value: object, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_hyperparameters({"bad": value})  # type: ignore[dict-item]
    error = info.value
    assert isinstance(error, UsageError)
    assert error.exit_code == 2
    assert error.field == "hyperparameters.bad"
    assert fragment in error.message
    assert error.hint


def test_validate_rejects_non_string_top_level_keys() -> None:
    with pytest.raises(SpecError, match="not a string"):
        validate_hyperparameters({1: "x"})  # type: ignore[dict-item]


def test_encoded_values_are_what_the_api_receives() -> None:
    # The API map is string to string; the toolkit then json.loads each value.
    encoded = encode_hyperparameters({"lr": 0.001, "name": "run"})
    assert all(isinstance(v, str) for v in encoded.values())
    assert json.loads(encoded["name"]) == "run"
