"""The evaluation dataset: read it, and tell inputs from references before any call.

A column named like a state field is an input; ``expected_<field>`` (or a column mapped by
``references=``) is a reference; any other column is a mistake reported with a did-you-mean,
unless it is listed in ``ignore`` (it then stays in the row for callable metrics).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config._validate import did_you_mean
from ..errors import InputError

if TYPE_CHECKING:
    from .._workflow import Workflow

EXPECTED = "expected_"
READERS = {".csv": "read_csv", ".jsonl": "read_json", ".json": "read_json", ".parquet": "read_parquet"}


@dataclass(frozen=True)
class Dataset:
    """The rows, split: ``inputs`` and ``references`` per row, plus the untouched ``records``."""

    inputs: list[dict[str, Any]]
    references: list[dict[str, Any]]
    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.inputs)


def read_records(data: Any) -> list[dict[str, Any]]:
    """A DataFrame, a list of dicts, or a CSV/JSONL/Parquet path, as a list of plain dicts."""
    import pandas as pd

    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise InputError(f"cannot read `{path}`: the data must be a .csv, .jsonl or .parquet "
                             "file, a DataFrame or a list of dicts")
        if not path.exists():
            raise InputError(f"data file `{path}` does not exist")
        options = {"lines": True} if path.suffix.lower() == ".jsonl" else {}
        data = getattr(pd, reader)(path, **options)
    if isinstance(data, pd.DataFrame):
        records = data.to_dict(orient="records")
    elif isinstance(data, (list, tuple)) and all(isinstance(r, dict) for r in data):
        records = [dict(r) for r in data]
    else:
        raise InputError(f"the data must be a DataFrame, a list of dicts or a file path, "
                         f"got {type(data).__name__}")
    if not records:
        raise InputError("the data has no rows")
    return [{str(k): _plain(v) for k, v in r.items()} for r in records]


def from_namespace(name: str, namespace: dict[str, Any]) -> Any:
    """``--data NAME``: a notebook variable, else a path; a name that is neither is reported
    with a did-you-mean over the notebook's datasets."""
    if name in namespace:
        return namespace[name]
    path = Path(name).expanduser()
    if path.suffix.lower() in READERS or path.exists():
        return name
    import pandas as pd

    datasets = [k for k, v in namespace.items() if not k.startswith("_") and (
        isinstance(v, pd.DataFrame) or (isinstance(v, list) and v and isinstance(v[0], dict)))]
    hint = did_you_mean(name, datasets)
    raise InputError(f"--data `{name}` is neither a notebook variable nor a .csv/.jsonl/.parquet file"
                     + (f" ({hint})" if hint else f"; DataFrames in the notebook: {', '.join(datasets)}"
                        if datasets else ""))


def _plain(value: Any) -> Any:
    """NaN (pandas' missing value) as None, numpy scalars as Python values."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def split(workflow: Workflow, records: list[dict[str, Any]], references: dict[str, str] | None = None,
          ignore: tuple[str, ...] | list[str] = ()) -> Dataset:
    """Split every record into typed inputs and references; every problem in one InputError."""
    fields = workflow.spec.state.fields
    mapping = dict(references or {})
    problems = []
    for column, field in mapping.items():
        if field not in fields:
            problems.append(f"references: `{column}` maps to `{field}`, which is not a state field"
                            + _hint(field, fields))
    columns = list(dict.fromkeys(c for r in records for c in r))
    for column in columns:
        if column in fields or column in mapping or column in ignore:
            continue
        if column.startswith(EXPECTED):
            if column[len(EXPECTED):] in fields:
                continue
            problems.append(f"column `{column}` expects `{column[len(EXPECTED):]}`, which is not a "
                            "state field" + _hint(column[len(EXPECTED):], fields))
            continue
        problems.append(f"column `{column}` is neither a state field nor `expected_<field>`"
                        + _hint(column, [*fields, *(EXPECTED + f for f in fields)])
                        + " (pass ignore=[...] to keep it for metrics only)")
    missing = [n for n in workflow.required_inputs if n not in columns]
    for name in missing:
        problems.append(f"required input `{name}` has no column")
    if problems:
        raise InputError(f"{len(problems)} data problem{'s' if len(problems) > 1 else ''} for "
                         f"`{workflow.name}`: " + "; ".join(problems))
    inputs, refs, bad = [], [], []
    for i, record in enumerate(records):
        row_inputs = {k: v for k, v in record.items() if k in fields and v is not None}
        try:
            workflow.initial_state(row_inputs)
        except InputError as exc:
            bad.append(f"row {i}: {exc}")
        inputs.append(row_inputs)
        row_refs = {k[len(EXPECTED):]: v for k, v in record.items()
                    if k.startswith(EXPECTED) and k[len(EXPECTED):] in fields and v is not None}
        row_refs.update({mapping[k]: v for k, v in record.items() if k in mapping and v is not None})
        refs.append(row_refs)
    if bad:
        more = f" (and {len(bad) - 5} more rows)" if len(bad) > 5 else ""
        raise InputError("; ".join(bad[:5]) + more)
    return Dataset(inputs, refs, records)


def _hint(name: str, known: Any) -> str:
    hint = did_you_mean(name, known)
    return f" ({hint})" if hint else ""
