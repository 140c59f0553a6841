"""The example operators repository, run through the real `flowui operators run` command.

Every run starts the CLI and its `flowui-task` child, as a user would; independent runs go in
parallel to keep the file quick on two cores.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.support.paths import EXAMPLES, FLOWUI

REPOSITORY = EXAMPLES / "operators_repository"
OPERATORS = REPOSITORY / "operators"
SALES_CSV = REPOSITORY / "data" / "sales.csv"
CUSTOMERS_JSON = REPOSITORY / "data" / "customers.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Run = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def child_environment() -> dict[str, str]:
    """The environment of the CLI runs, with a bytecode cache outside the project.

    Where PYTHONDONTWRITEBYTECODE is set, every child would compile pandas and scikit-learn
    from source again (seconds each); a shared cache directory avoids that without writing
    into the virtualenv.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment.setdefault(
        "PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "flowui-tests-pycache")
    )
    return environment


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def run(root: Path, child_environment: dict[str, str]) -> Run:
    """Run one operator through the CLI; return its --json result after checking the exit code."""

    def run_operator(
        name: str,
        inputs: dict[str, Any],
        *,
        succeeds: bool = True,
        environment: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        command = [str(FLOWUI), "operators", "run", name, "--repo", str(REPOSITORY)]
        command += ["--input", json.dumps(inputs), "--root", str(root), "--json"]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**child_environment, **(environment or {})},
            timeout=240,
        )
        assert completed.returncode == (0 if succeeds else 1), completed.stderr[-3000:]
        result: dict[str, Any] = json.loads(completed.stdout)
        assert result["status"] == ("success" if succeeds else "failed"), result
        return result

    return run_operator


def in_parallel(*calls: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


# --- the repository itself ---------------------------------------------------------------------


def test_model_files_import_only_pydantic_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "typing_extensions"}
    for model_file in sorted(OPERATORS.glob("*/model.py")):
        tree = ast.parse(model_file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in allowed, f"{model_file} imports {module}"


def test_repository_organizes_into_a_dataset_and_an_ml_dependency_group(tmp_path: Path) -> None:
    checkout = shutil.copytree(REPOSITORY, tmp_path / "repository")
    completed = subprocess.run(
        [str(FLOWUI), "operators", "organize", str(checkout), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    groups = json.loads(completed.stdout)["dependencies_map"]
    by_file = {
        entry["dependency"]["requirements_file"]: set(entry["operators"])
        for entry in groups.values()
    }
    assert by_file["requirements_dataset.txt"] == {
        "LoadDatasetOperator",
        "FilterRowsOperator",
        "AggregateOperator",
        "JoinDatasetsOperator",
        "SaveDatasetVersionOperator",
        "GetDatasetVersionOperator",
    }
    assert by_file["requirements_ml.txt"] == {
        "LoadSampleDatasetOperator",
        "SplitDatasetOperator",
        "TrainModelOperator",
        "EvaluateModelOperator",
        "PredictOperator",
        "HtmlReportOperator",
    }


# --- dataset group -----------------------------------------------------------------------------


def test_dataset_chain_loads_versions_filters_aggregates_and_saves(run: Run, root: Path) -> None:
    shipped = read_csv(SALES_CSV)

    first = run("LoadDatasetOperator", {"source": SALES_CSV.as_uri(), "dataset_id": "sales"})
    second = run("LoadDatasetOperator", {"source": str(SALES_CSV), "dataset_id": "sales"})
    assert (first["output"]["version"], second["output"]["version"]) == ("v0001", "v0002")
    loaded = second["output"]
    assert loaded["path"] == str(root / "dataset" / "sales" / "v0002" / "data.csv")
    assert loaded["rows"] == len(shipped)
    assert loaded["columns"] == list(shipped[0])
    meta = json.loads((root / "dataset" / "sales" / "v0002" / "meta.json").read_text())
    assert meta["rows"] == len(shipped)
    assert meta["source"] == str(SALES_CSV)

    filtered = run(
        "FilterRowsOperator",
        {
            "path": loaded["path"],
            "drop_missing": True,
            "drop_duplicates": True,
            "conditions": [
                {"column": "quantity", "op": ">=", "value": 5},
                {"column": "region", "op": "in", "value": ["north", "east"]},
            ],
        },
    )["output"]
    complete = [row for row in shipped if all(row.values())]
    unique = list({tuple(row.items()): row for row in complete}.values())
    expected = [r for r in unique if int(r["quantity"]) >= 5 and r["region"] in ("north", "east")]
    assert 0 < len(expected) < len(shipped)
    assert (filtered["rows_in"], filtered["rows_out"]) == (len(shipped), len(expected))
    written = read_csv(filtered["path"])
    assert sorted(row["order_id"] for row in written) == sorted(r["order_id"] for r in expected)
    assert all(int(row["quantity"]) >= 5 for row in written)  # whole numbers stay whole

    aggregated = run(
        "AggregateOperator",
        {
            "path": filtered["path"],
            "group_by": ["region"],
            "aggregations": [
                {"column": "quantity", "function": "sum", "as": "total_quantity"},
                {"column": "order_id", "function": "count", "as": "orders"},
            ],
            "sort_by": "total_quantity",
            "descending": True,
        },
    )["output"]
    totals: Counter[str] = Counter()
    for row in expected:
        totals[row["region"]] += int(row["quantity"])
    rows = read_csv(aggregated["path"])
    assert aggregated["rows"] == len(totals) == len(rows)
    assert {row["region"]: int(row["total_quantity"]) for row in rows} == dict(totals)
    assert [row["region"] for row in rows] == [region for region, _ in totals.most_common()]
    assert sum(int(row["orders"]) for row in rows) == len(expected)

    saved, latest = in_parallel(
        lambda: run(
            "SaveDatasetVersionOperator",
            {"path": aggregated["path"], "dataset_id": "sales_by_region", "description": "Q1"},
        ),
        lambda: run("GetDatasetVersionOperator", {"dataset_id": "sales"}),
    )
    stored = saved["output"]
    assert (stored["version"], stored["rows"], stored["created"]) == ("v0001", len(totals), True)
    assert Path(stored["path"]).read_bytes() == Path(aggregated["path"]).read_bytes()
    assert Path(stored["path"]).is_relative_to(root / "dataset" / "sales_by_region")
    assert latest["output"]["version"] == "v0002"
    assert latest["output"]["versions"] == 2
    assert latest["output"]["path"] == loaded["path"]


def test_json_records_load_once_when_unchanged(run: Run, root: Path) -> None:
    customers = json.loads(CUSTOMERS_JSON.read_text())
    inputs = {"source": CUSTOMERS_JSON.as_uri(), "dataset_id": "customers"}
    first = run("LoadDatasetOperator", inputs)["output"]
    again = run("LoadDatasetOperator", {**inputs, "skip_if_unchanged": True})["output"]
    assert first["rows"] == len(customers)
    assert first["columns"] == list(customers[0])
    assert (again["version"], again["created"]) == ("v0001", False)
    assert [entry.name for entry in (root / "dataset" / "customers").iterdir()] == ["v0001"]
    assert read_csv(first["path"])[0]["name"] == customers[0]["name"]


class _SalesExport(BaseHTTPRequestHandler):
    """Serves the shipped sales CSV at /export (any query), and 404 elsewhere."""

    requests: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.requests.append((self.path, self.headers.get("Authorization")))
        if not self.path.startswith("/export"):
            self.send_error(404)
            return
        body = SALES_CSV.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sales_server() -> Iterator[str]:
    """A local HTTP server (loopback only: this machine has no other network)."""
    _SalesExport.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SalesExport)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_source_gets_the_token_and_credentials_stay_out_of_store_and_log(
    run: Run, root: Path, sales_server: str
) -> None:
    environment = {"DATASET_SOURCE_TOKEN": "tok-123", "NO_PROXY": "*", "no_proxy": "*"}
    loaded, missing = in_parallel(
        lambda: run(
            "LoadDatasetOperator",
            {"source": f"{sales_server}/export?key=s3cr3t", "dataset_id": "remote"},
            environment=environment,
        ),
        lambda: run(
            "LoadDatasetOperator",
            {"source": f"{sales_server}/nothing.csv", "dataset_id": "remote"},
            succeeds=False,
            environment=environment,
        ),
    )
    assert ("/export?key=s3cr3t", "Bearer tok-123") in _SalesExport.requests
    assert loaded["output"]["rows"] == len(read_csv(SALES_CSV))  # CSV told by the content type
    meta = (root / "dataset" / "remote" / "v0001" / "meta.json").read_text()
    assert json.loads(meta)["source"] == f"{sales_server}/export?..."
    log = Path(loaded["log"]).read_text()
    for secret in ("s3cr3t", "tok-123"):
        assert secret not in meta and secret not in log
    assert "HTTP 404" in missing["error"]


def test_join_matches_rows_by_key_and_counts_the_unmatched(run: Run) -> None:
    sales = read_csv(SALES_CSV)
    known = {customer["customer_id"] for customer in json.loads(CUSTOMERS_JSON.read_text())}
    unknown_rows = sum(row["customer_id"] not in known for row in sales)
    assert unknown_rows > 0  # the shipped data has orders of a customer missing from the list
    inputs = {"left_path": str(SALES_CSV), "right_path": str(CUSTOMERS_JSON), "on": ["customer_id"]}

    inner, left = in_parallel(
        lambda: run("JoinDatasetsOperator", {**inputs, "how": "inner"}),
        lambda: run("JoinDatasetsOperator", {**inputs, "how": "left"}),
    )
    assert inner["output"]["rows"] == len(sales) - unknown_rows
    assert left["output"]["rows"] == len(sales)
    assert left["output"]["unmatched_left"] == unknown_rows
    assert left["output"]["columns"][-3:] == ["name", "segment", "country"]
    joined = read_csv(left["output"]["path"])
    assert {row["name"] for row in joined if row["customer_id"] == "C01"} == {"Acme Corp"}
    assert {row["name"] for row in joined if row["customer_id"] not in known} == {""}


def test_unknown_column_fails_naming_it_and_the_available_ones(run: Run) -> None:
    result = run(
        "FilterRowsOperator",
        {"path": str(SALES_CSV), "conditions": [{"column": "qantity", "op": ">", "value": 1}]},
        succeeds=False,
    )
    assert "unknown column 'qantity'" in result["error"]
    assert "did you mean 'quantity'?" in result["error"]
    assert "available columns: order_id, date, region" in result["error"]
    assert not any(Path(result["results"]).iterdir())  # nothing half-written


# --- machine-learning group --------------------------------------------------------------------


def test_ml_chain_trains_evaluates_predicts_and_reports(run: Run) -> None:
    sample = run("LoadSampleDatasetOperator", {"dataset": "iris"})["output"]
    assert (sample["rows"], sample["classes"]) == (150, ["setosa", "versicolor", "virginica"])
    assert read_csv(sample["path"])[0].keys() == {*sample["feature_columns"], "target"}

    split = run(
        "SplitDatasetOperator",
        {"path": sample["path"], "target_column": sample["target_column"], "test_size": 0.3},
    )["output"]
    assert (split["train_rows"], split["test_rows"]) == (105, 45)
    test_rows = read_csv(split["test_path"])
    assert Counter(row["target"] for row in test_rows) == dict.fromkeys(sample["classes"], 15)

    trained = run(
        "TrainModelOperator",
        {
            "train_path": split["train_path"],
            "target_column": split["target_column"],
            "model_type": "random_forest",
            "hyperparameters": {"n_estimators": 50, "max_depth": 4},
        },
    )["output"]
    assert trained["train_accuracy"] > 0.95
    assert trained["classes"] == sample["classes"]
    assert trained["feature_columns"] == sample["feature_columns"]
    info = json.loads(Path(trained["model_info_path"]).read_text())
    assert info["hyperparameters"] == {"n_estimators": 50, "max_depth": 4}

    evaluated, predicted = in_parallel(
        lambda: run(
            "EvaluateModelOperator",
            {"model_path": trained["model_path"], "test_path": split["test_path"]},
        ),
        lambda: run(
            "PredictOperator",
            {
                "model_path": trained["model_path"],
                "data_path": split["test_path"],
                "include_probabilities": True,
            },
        ),
    )
    metrics = evaluated["output"]
    assert metrics["accuracy"] > 0.85
    assert metrics["labels"] == sample["classes"]
    assert sum(map(sum, metrics["confusion_matrix"])) == 45
    right = sum(metrics["confusion_matrix"][i][i] for i in range(3))
    assert right / 45 == pytest.approx(metrics["accuracy"])
    assert Path(metrics["confusion_matrix_path"]).read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads(Path(metrics["metrics_path"]).read_text())["per_class"]["setosa"]["support"]
    assert evaluated["display_result"]["file_type"] == "png"

    predictions = read_csv(predicted["output"]["predictions_path"])
    assert predicted["output"]["rows"] == len(predictions) == 45
    assert sum(predicted["output"]["class_counts"].values()) == 45
    hits = sum(row["prediction"] == row["target"] for row in predictions)
    assert hits / 45 == pytest.approx(metrics["accuracy"])  # same model, same rows
    first = predictions[0]
    probabilities = [float(first[f"probability_{name}"]) for name in sample["classes"]]
    assert sum(probabilities) == pytest.approx(1, abs=1e-4)

    report = run(
        "HtmlReportOperator",
        {
            "title": "<script>alert('x')</script> Iris report",
            "metrics": metrics["metrics"],
            "image_path": metrics["confusion_matrix_path"],
            "notes": "Trained on **105** flowers.\n\n- tested on 45 <b>rows</b>",
        },
    )
    html = Path(report["output"]["report_path"]).read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>rows</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Iris report" in html
    assert "<strong>105</strong>" in html and "&lt;b&gt;rows&lt;/b&gt;" in html
    assert html.count('src="data:image/png;base64,') == 2  # the metrics chart and the matrix
    assert f"{metrics['accuracy']:.4f}" in html
    assert report["display_result"] == {"file_type": "html", "path": "results/report.html"}


def test_unknown_hyperparameter_fails_naming_the_valid_ones(run: Run) -> None:
    result = run(
        "TrainModelOperator",
        {
            "train_path": str(SALES_CSV),
            "target_column": "region",
            "model_type": "knn",
            "hyperparameters": {"n_trees": 3},
        },
        succeeds=False,
    )
    assert "unknown hyperparameter 'n_trees' for model_type 'knn'" in result["error"]
    assert "n_neighbors" in result["error"]
    assert not Path(result["output_file"]).exists()
