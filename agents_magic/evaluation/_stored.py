"""Evaluations kept in the run store: listed as a DataFrame, rebuilt without any call."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._result import EvalResult

if TYPE_CHECKING:
    import pandas as pd


def evaluations(workflow: str | None = None, *, last: int | None = None,
                url: str | None = None) -> pd.DataFrame:
    """The stored evaluations, newest first (of one ``workflow`` when given): id, name,
    workflow, status, times, rows, failed rows, variants, cost, judge cost and tokens."""
    from ..store._evaluations import list_evaluations

    return list_evaluations(workflow, last=last, storage_url=url)


def load_evaluation(evaluation_id: str, url: str | None = None) -> EvalResult:
    """The :class:`EvalResult` of a stored evaluation (an id or a unique prefix of one),
    rebuilt from the store: table, summary, comparisons, winner, gates and plots, no call made."""
    from ..store._evaluations import load_evaluation_record

    return EvalResult.from_record(load_evaluation_record(evaluation_id, storage_url=url))
