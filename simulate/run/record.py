"""The base of every result type: JSON out and back in through pydantic, with NaN as null, and
the one-row-per-item table a result is written as."""

from __future__ import annotations

import functools
import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import BeforeValidator, ConfigDict, TypeAdapter

if TYPE_CHECKING:
    import pandas as pd


_NUMPY_SCALAR = (np.generic,)


def _nan_if_none(value: Any) -> Any:
    return math.nan if value is None else value


Float = Annotated[float, BeforeValidator(_nan_if_none)]
"""A float that is NaN where there was nothing to estimate: written as JSON null, read back as NaN."""


def _plain(value: Any) -> Any:
    """numpy scalars (which results may hold as computed) as the Python values they stand for."""
    return value.item() if isinstance(value, _NUMPY_SCALAR) else value


class Record:
    """Base of the result types: JSON out and back in through pydantic, driven by the declared
    field types (NaN and infinities become null; null read into a :data:`Float` becomes NaN)."""

    __pydantic_config__ = ConfigDict(ser_json_inf_nan="null")

    def to_json(self) -> dict:
        return json.loads(_adapter(type(self)).dump_json(self, fallback=_plain, warnings=False))

    @classmethod
    def from_json(cls, data: dict):
        return _adapter(cls).validate_python(data)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def frame(rows: list[dict]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(rows)
