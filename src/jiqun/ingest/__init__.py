"""Importers of CSV and XLSX files with validation and reject reports."""
