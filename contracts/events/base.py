"""Common shape of every integration event payload."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A GB/T 2260 county-level code (six digits, not ending in 00 at the county level).
CountyCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
ProvinceCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
# A pseudonymous identifier: a keyed hash that stays inside the federation's codes.
PseudonymousId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]
AggregateId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Score = Annotated[int, Field(ge=1, le=5)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class EventData(BaseModel):
    """Base of every payload. Unknown fields are ignored, so a newer minor producer stays readable."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)

    aggregate: ClassVar[str]
    event: ClassVar[str]
    version: ClassVar[int] = 1
