"""Bad input, wrong arguments, a missing or broken model: one line naming the problem, a
non-zero exit, and no output that looks complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import customer_segmentation, segment_customers
from tests.cli import error_line

HEADER = "customer_id,age,gender,marital_status,annual_income,spending_score"


@pytest.mark.parametrize(
    ("job", "args", "message"),
    [
        (customer_segmentation, ["--output", "o"], "the following arguments are required: --input"),
        (customer_segmentation, ["--input", "i", "--output", "o", "--k", "1"], "'1': k must be at least 2"),
        (customer_segmentation, ["--input", "i", "--output", "o", "--k", "five"], "'five' is not a whole number"),
        (customer_segmentation, ["--input", "i", "--output", "o", "--k-range", "6-3"], "'6-3': need 2 <= MIN <= MAX"),
        (customer_segmentation, ["--input", "i", "--output", "o", "--k-range", "1-4"], "'1-4': need 2 <= MIN <= MAX"),
        (customer_segmentation, ["--input", "i", "--output", "o", "--k-range", "2..6"], "'2..6' is not a range like"),
        (
            customer_segmentation,
            ["--input", "i", "--output", "o", "--k", "3", "--k-range", "2-4"],
            "argument --k-range: not allowed with argument --k",
        ),
        (customer_segmentation, ["--input", "i", "--output", "o", "--max-iter", "0"], "'0' must be at least 1"),
        (
            customer_segmentation,
            ["--input", "i", "--output", "o", "--category-weight", "0"],
            "'0': the category weight must be above 0 and at most 1",
        ),
        (segment_customers, ["--input", "i", "--output", "o"], "the following arguments are required: --model"),
        (segment_customers, ["--model", "m", "--input", "i", "--output", "o", "--format", "csv"], "invalid choice"),
    ],
)
def test_wrong_arguments_give_one_line_and_exit_2(job, args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        job.parse_args(args)
    assert exit_info.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith(f"{job.JOB}: error: ") and message in line


def test_missing_model(spark, fixtures: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "no-model"
    args = [
        "--model",
        str(model),
        "--input",
        str(fixtures / "customer_segmentation" / "score"),
        "--output",
        str(tmp_path / "out"),
    ]
    assert segment_customers.main(args) == 1
    assert error_line(capsys.readouterr().err) == (
        f"segment_customers: error: model not found: {model} (expected the model/ folder a training run wrote)"
    )
    assert not (tmp_path / "out").exists()


def test_unreadable_model(spark, fixtures: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model"
    (model / "metadata").mkdir(parents=True)
    (model / "metadata" / "part-00000").write_text("this is not a model\n")
    args = [
        "--model",
        str(model),
        "--input",
        str(fixtures / "customer_segmentation" / "score"),
        "--output",
        str(tmp_path / "out"),
    ]
    assert segment_customers.main(args) == 1
    assert error_line(capsys.readouterr().err).startswith(
        f"segment_customers: error: cannot load the model at {model}: "
    )
    assert not (tmp_path / "out").exists()


def test_missing_input(spark, tmp_path: Path, capsys) -> None:
    args = ["--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "out")]
    assert customer_segmentation.main(args) == 1
    assert (
        error_line(capsys.readouterr().err)
        == f"customer_segmentation: error: input path not found: {tmp_path / 'nope.csv'}"
    )


def test_header_not_the_contract(spark, tmp_path: Path, capsys) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n1,Male,19,15,39\n")
    assert customer_segmentation.main(["--input", str(path), "--output", str(tmp_path / "out")]) == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith("customer_segmentation: error: ") and "customers.csv: header 'CustomerID,Gender,Age" in line
    assert line.endswith(
        "does not match the contract 'customer_id,age,gender,marital_status,annual_income,spending_score'"
    )


def test_only_a_header(spark, tmp_path: Path, capsys) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + "\n")
    assert customer_segmentation.main(["--input", str(path), "--output", str(tmp_path / "out")]) == 1
    assert error_line(capsys.readouterr().err) == f"customer_segmentation: error: no customer lines in {path}"


def test_too_few_customers_for_k(spark, tmp_path: Path, capsys) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + "\na,30,Male,Single,1000,5\nb,60,Female,Married,90000,80\nc,,Male,Single,1,1\n")
    assert customer_segmentation.main(["--input", str(path), "--output", str(tmp_path / "out"), "--k", "3"]) == 1
    assert error_line(capsys.readouterr().err) == "customer_segmentation: error: 2 valid customers are too few for k=3"
    assert not (tmp_path / "out").exists()
