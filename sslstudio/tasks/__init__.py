"""Pretext tasks, one module per modality, and the task registry (no Qt)."""

from sslstudio.tasks.base import HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import create_task, get_task, list_tasks, register_task

__all__ = ["HeadSpec", "PretextTask", "PreviewItem", "TaskParams", "create_task", "get_task", "list_tasks",
           "param", "register_task"]
