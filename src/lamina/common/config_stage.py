"""What every configuration stage is (lamina.common.config): a pydantic model that refuses unknown keys and checks
values when they are assigned, too."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(ge=1)]


class Stage(BaseModel):
    """A stage of the configuration (data, model, train, ...): unknown keys and bad values are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
