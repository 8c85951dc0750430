"""`json_parse`, `yaml_parse`, `dataframe_to_csv`: data formats with size and depth caps."""
from __future__ import annotations

import datetime
import json
from typing import Any

from pydantic import Field

from agents_magic.tools._tool import Tool, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, os_errors, settings
from agents_magic.tools.builtin._confine import Roots


class ParseSettings(Settings):
    max_chars: int = Field(1_000_000, gt=0, le=100_000_000)
    max_depth: int = Field(64, gt=0, le=500)
    max_nodes: int = Field(100_000, gt=0, le=10_000_000)
    max_aliases: int = Field(100, ge=0)


class CsvSettings(Settings):
    roots: list[str] = []
    max_rows: int = Field(10_000, gt=0, le=10_000_000)
    max_bytes: int = Field(1_000_000, gt=0, le=100_000_000)


def _bounded(value: Any, cfg: ParseSettings) -> Any:
    """``value`` as plain JSON-ready data, refusing more depth or nodes than the caps allow
    (a YAML alias bomb shares its nodes; walking it is what the budget stops)."""
    budget = [cfg.max_nodes]

    def walk(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ToolError(f"the document has more than {cfg.max_nodes} values")
        if depth > cfg.max_depth:
            raise ToolError(f"the document is nested deeper than {cfg.max_depth} levels")
        if isinstance(item, dict):
            return {str(k): walk(v, depth + 1) for k, v in item.items()}
        if isinstance(item, (list, tuple, set)):
            return [walk(v, depth + 1) for v in item]
        if isinstance(item, (datetime.date, datetime.time)):
            return item.isoformat()
        if isinstance(item, bytes):
            return item.decode("utf-8", errors="replace")
        return item

    return walk(value, 0)


def _check_size(text: str, cfg: ParseSettings) -> None:
    if len(text) > cfg.max_chars:
        raise ToolError(f"the text is {len(text)} characters; the limit is {cfg.max_chars}")


def json_parse(**config: Any) -> Tool:
    """Parse JSON text into data."""
    cfg = settings("json_parse", ParseSettings, config)

    def parse(text: str) -> dict[str, Any]:
        _check_size(text, cfg)
        try:
            value = json.loads(text)
        except RecursionError:
            raise ToolError(f"the document is nested deeper than {cfg.max_depth} levels") from None
        except ValueError as error:
            raise ToolError(f"invalid JSON: {error}") from None
        return {"value": _bounded(value, cfg)}

    return _parser("json_parse", "JSON", cfg, parse)


def yaml_parse(**config: Any) -> Tool:
    """Parse YAML text with the safe loader (no Python objects) into data."""
    cfg = settings("yaml_parse", ParseSettings, config)

    def parse(text: str) -> dict[str, Any]:
        import yaml

        _check_size(text, cfg)
        try:
            aliases = sum(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader))
            if aliases > cfg.max_aliases:
                raise ToolError(f"the document uses {aliases} aliases; the limit is {cfg.max_aliases}")
            value = yaml.safe_load(text)
        except RecursionError:
            raise ToolError(f"the document is nested deeper than {cfg.max_depth} levels") from None
        except yaml.YAMLError as error:
            raise ToolError(f"invalid YAML: {error}") from None
        return {"value": _bounded(value, cfg)}

    return _parser("yaml_parse", "YAML", cfg, parse)


def _parser(name: str, language: str, cfg: ParseSettings, parse: Any) -> Tool:
    return Tool(name, f"Parse {language} text (at most {cfg.max_chars} characters) into data.",
                arguments({"text": {"type": "string"}}, "text"),
                parse)


def dataframe_to_csv(**config: Any) -> Tool:
    """Records (a list of objects) as CSV text; with `roots` configured, optionally written to a
    file inside them through the confined file layer."""
    cfg = settings("dataframe_to_csv", CsvSettings, config)
    roots = Roots("dataframe_to_csv", cfg.roots) if cfg.roots else None

    @os_errors
    def to_csv(records: list[dict[str, Any]], path: str | None = None,
               overwrite: bool = False) -> dict[str, Any]:
        import pandas as pd

        if len(records) > cfg.max_rows:
            raise ToolError(f"{len(records)} records; the limit is {cfg.max_rows}")
        text = pd.DataFrame.from_records(records).to_csv(index=False)
        if len(text.encode()) > cfg.max_bytes:
            raise ToolError(f"the CSV would be larger than {cfg.max_bytes} bytes")
        if path is None:
            return {"csv": text, "rows": len(records)}
        if roots is None:
            raise ToolError("this tool has no `roots` configured, so it cannot write files")
        place = roots.place(path)
        with roots.parent(place) as dir_fd:
            roots.write_atomic(dir_fd, place, text.encode(), replace=overwrite)
        return {"path": place.shown, "rows": len(records), "bytes": len(text.encode())}

    writes = f" Can write it to a file inside {', '.join(roots.roots)}." if roots else ""
    return Tool("dataframe_to_csv", f"Turn records (a list of objects) into CSV text.{writes}",
                arguments({
                    "records": {"type": "array", "items": {"type": "object"}},
                    "path": {"type": "string", "description": "optional file to write"},
                    "overwrite": {"type": "boolean"}},
                    "records"),
                to_csv)
