"""Write the UCI wine data set (bundled with scikit-learn) to data/train and data/test as CSV.

Run once; the CSVs are committed so training works offline:

    python prepare_data.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
TARGET = "cultivar"
TEST_SIZE = 0.25
SEED = 42


def write_csv(path: Path, header: list[str], rows, labels) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row, label in zip(rows, labels, strict=True):
            writer.writerow([repr(float(v)) for v in row] + [int(label)])


def main() -> None:
    wine = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        wine.data, wine.target, test_size=TEST_SIZE, stratify=wine.target, random_state=SEED
    )
    header = [*wine.feature_names, TARGET]
    write_csv(HERE / "data" / "train" / "wine_train.csv", header, x_train, y_train)
    write_csv(HERE / "data" / "test" / "wine_test.csv", header, x_test, y_test)
    print(f"wrote {len(y_train)} training and {len(y_test)} test rows")


if __name__ == "__main__":
    main()
