"""Readers and datasets, one module per modality (no Qt)."""

from sslstudio.data.base import DataError, Dataset, DatasetSpec, open_dataset, readers
from sslstudio.data.report import ImportIssue, ImportReport

__all__ = ["DataError", "Dataset", "DatasetSpec", "ImportIssue", "ImportReport", "open_dataset", "readers"]
