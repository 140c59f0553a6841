"""Operators repositories shipped with FlowUI, imported like any other repository."""

from pathlib import Path

# LoadDataset, LoadModel and SaveToS3: between the user's bucket and the shared file system.
STORAGE_OPERATORS = Path(__file__).parent / "storage_operators"
