"""Writers: atomic Parquet files and directories, atomic JSON."""

from curator.writers.parquet import (
    atomic_write_json,
    atomic_write_table,
    commit_dir,
    count_rows,
    file_info,
    parquet_files,
    temp_dir_for,
)

__all__ = [
    "atomic_write_json",
    "atomic_write_table",
    "commit_dir",
    "count_rows",
    "file_info",
    "parquet_files",
    "temp_dir_for",
]
