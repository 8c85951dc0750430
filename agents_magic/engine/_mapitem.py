"""A failed map item fails the run only once the other items of its step have finished.

LangGraph cancels the other tasks of a step as soon as one raises, so a map whose item 3 failed
early would lose items 0-2 and 4-19 in flight, and resuming it would call them all again. An
exception that LangGraph "bubbles up" (:class:`~langgraph.errors.GraphBubbleUp`, as an
interrupt does) instead lets them finish: their results are saved with the checkpoint as the
step's pending writes, while the failed item wrote nothing, so a resumed run sends only the
failed items again.
"""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphBubbleUp


class ItemFailed(GraphBubbleUp):
    """Carries the failure of one map item out of its step; :func:`invoke` raises ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


async def invoke(graph: Any, start: Any, config: Any, options: dict[str, Any]) -> Any:
    """``graph.ainvoke``, raising a failed map item's own error."""
    try:
        return await graph.ainvoke(start, config=config, **options)
    except ItemFailed as failed:
        raise failed.error from None
