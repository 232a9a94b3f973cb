"""The import report: every file, row or record that was skipped or repaired, with the reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Action = Literal["skipped", "repaired", "warning"]


@dataclass(frozen=True)
class ImportIssue:
    """One problem found while importing: where it was, what was wrong and what was done."""

    source: str
    reason: str
    action: Action = "skipped"
    location: str = ""

    def __str__(self) -> str:
        where = f"{self.source} ({self.location})" if self.location else self.source
        return f"{self.action}: {where}: {self.reason}"


@dataclass
class ImportReport:
    """The issues of one import, in the order they were found."""

    issues: list[ImportIssue] = field(default_factory=list)

    def add(self, source: str, reason: str, action: Action = "skipped", location: str = "") -> None:
        issue = ImportIssue(source=str(source), reason=reason, action=action, location=location)
        self.issues.append(issue)
        logger.info("Import %s", issue)

    @property
    def skipped(self) -> list[ImportIssue]:
        return [issue for issue in self.issues if issue.action == "skipped"]

    @property
    def repaired(self) -> list[ImportIssue]:
        return [issue for issue in self.issues if issue.action == "repaired"]

    def summary(self, loaded: int) -> str:
        """Return a one-line summary such as ``1797 loaded, 2 skipped, 1 repaired``."""
        parts = [f"{loaded} loaded", f"{len(self.skipped)} skipped", f"{len(self.repaired)} repaired"]
        warnings = len(self.issues) - len(self.skipped) - len(self.repaired)
        if warnings:
            parts.append(f"{warnings} warnings")
        return ", ".join(parts)

    def __len__(self) -> int:
        return len(self.issues)
