"""The project folder and its SQLite store (no Qt)."""

from sslstudio.project.store import Project, ProjectError

__all__ = ["Project", "ProjectError"]
