"""Importers of CSV and XLSX files (markets, customers, waybills, events) with validation and
reject reports. ``import_file`` is the Python API; ``jiqun import …`` the command line."""

from jiqun.ingest.api import LAKE_KINDS, import_file
from jiqun.ingest.columns import FORMATS, KINDS
from jiqun.ingest.report import ImportFileError, ImportReport, Reject

__all__ = [
    "FORMATS", "KINDS", "LAKE_KINDS", "ImportFileError", "ImportReport", "Reject", "import_file",
]
