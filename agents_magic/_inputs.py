"""``key=value`` inputs as typed on the command line and on a magic line.

Values are YAML literals (``n=3`` is an int, ``xs=[1, 2]`` a list, ``z=null`` None); text that
YAML would turn into something surprising (``t=a: b``, an empty value) stays as written, and
:func:`coerce` gives ``str`` state fields the text as typed (``zip=01234`` stays ``"01234"``).
"""

from __future__ import annotations

from typing import Any, Mapping


def split(word: str) -> tuple[str, str]:
    """``"n=3"`` → ``("n", "3")``; ValueError unless the key is a Python identifier."""
    key, sep, text = word.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"expected an input as KEY=VALUE, got `{word}` "
                         "(quote values with spaces: text=\"two words\")")
    return key, text


def literal(text: str) -> Any:
    """A YAML literal (number, bool, null, list, ``{...}`` mapping, quoted string), else the text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if (value is None and text.strip() not in ("null", "~")) or (
            isinstance(value, dict) and not text.strip().startswith("{")):
        return text
    return value


def coerce(values: dict[str, Any], raw: Mapping[str, str], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Give ``str`` fields the text as typed (``-i code=007`` stays ``"007"``, not ``7``)."""
    out = dict(values)
    for key, text in raw.items():
        field = fields.get(key)
        if field is not None and getattr(field, "type", None) == "str" and not isinstance(out[key], str):
            out[key] = text
    return out
