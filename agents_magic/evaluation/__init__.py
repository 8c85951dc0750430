"""Evaluation and A/B tests: a workflow over a dataset, scored, compared with paired statistics,
gated, and the winner written back.

``agents_magic.evaluate(...)`` returns an :class:`EvalResult`. Modules: ``_data`` (dataset and
columns), ``_metrics``, ``_judge``, ``_stats``, ``_variants``, ``_winner``, ``_gates``,
``_apply`` (write-back), ``_executor`` (where rows run), ``_rows`` (one row), ``_progress``,
``_result``, ``_plots``, ``_stored`` (evaluations in the run store).
"""

from ._evaluate import GateFailed, evaluate
from ._result import EvalResult
from ._stored import evaluations, load_evaluation

__all__ = ["EvalResult", "GateFailed", "evaluate", "evaluations", "load_evaluation"]
