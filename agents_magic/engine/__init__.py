"""The engine: compiles a workflow to LangGraph, runs it and emits RunEvents. No IPython here."""
