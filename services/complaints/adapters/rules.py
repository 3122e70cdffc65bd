"""The supervision rule book, from a YAML file (`PLS_COMPLAINTS_RULES`, default
`pls/data/complaint_rules.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pls.deadlines import DEFAULT_RULES
from services.complaints.domain.rules import SupervisionRule, SupervisionRules

DEFAULT_COMPLAINT_RULES = DEFAULT_RULES.parent / "complaint_rules.yaml"


def load_rules(path: str | Path | None = None) -> SupervisionRules:
    raw: Any = yaml.safe_load(Path(path or DEFAULT_COMPLAINT_RULES).read_text(encoding="utf-8"))
    return SupervisionRules(rules=[SupervisionRule.model_validate(item) for item in raw])
