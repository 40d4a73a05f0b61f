"""Where a dataset's days and files are: the path, its date= folders, formats by extension."""

import datetime as dt
import re
from pathlib import Path

from ._spec import DatasetError, DatasetSpec

# Hive partition folders are named <PARTITION_KEY>=YYYY-MM-DD.
PARTITION_KEY = "date"

# Extension -> format for format="auto". ".json" is accepted as JSON Lines because many
# exporters (BigQuery, Spark, pandas' to_json(lines=True)) name JSON Lines files that way.
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# pyarrow's JSON and CSV readers decompress these transparently, judging by the file name.
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")


def existing_path(spec: DatasetSpec) -> Path:
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"Dataset path {path} does not exist; point the dataset path at a file or at a "
            f"folder of {PARTITION_KEY}=YYYY-MM-DD subfolders."
        )
    return path


def parse_partition_date(date: str) -> dt.date:
    # fromisoformat alone also accepts "20261101" (3.11+); partitions are always dashed.
    if isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        try:
            return dt.date.fromisoformat(date)
        except ValueError:
            pass
    raise DatasetError(f"Partition {date!r} is not a YYYY-MM-DD date; pass one like 2026-11-01.")


def _hidden(path: Path) -> bool:
    # Hive/Spark convention: _SUCCESS, _metadata, .crc and editor files are not data.
    return path.name.startswith((".", "_"))


def hive_dates(root: Path) -> list[str]:
    dates = []
    for entry in root.iterdir():
        if _hidden(entry) or not entry.is_dir() or not entry.name.startswith(f"{PARTITION_KEY}="):
            continue
        value = entry.name.partition("=")[2]
        try:
            dates.append(parse_partition_date(value).isoformat())
        except DatasetError:
            raise DatasetError(
                f"Folder {entry} is not a valid partition; rename it to "
                f"{PARTITION_KEY}=YYYY-MM-DD or move it out of {root}."
            ) from None
    if not dates:
        check_hive_root(root)
    return sorted(dates)


def check_hive_root(root: Path) -> None:
    """A folder with data files but no date= subfolders is a mistake, not an empty dataset."""
    loose = []
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith(f"{PARTITION_KEY}="):
            return
        if entry.is_file() and not _hidden(entry) and _known_extension(entry):
            loose.append(entry.name)
    if loose:
        raise DatasetError(
            f"{root} holds data files ({', '.join(sorted(loose)[:3])}) but no "
            f"{PARTITION_KEY}=YYYY-MM-DD subfolders; point the dataset path at the file "
            f"itself or move the files into one {PARTITION_KEY}=YYYY-MM-DD folder per day."
        )


def _natural_key(name: str) -> list[object]:
    # part-2 before part-10, as a human (and most writers' numbering) expects.
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def partition_files(folder: Path, spec: DatasetSpec) -> list[tuple[Path, str]]:
    files = []
    for entry in sorted(folder.iterdir(), key=lambda p: _natural_key(p.name)):
        if _hidden(entry):
            continue
        if entry.is_dir():
            raise DatasetError(
                f"{entry} is a folder inside partition {folder.name}; put the day's files "
                f"directly in {folder} (nested partitions are not supported)."
            )
        files.append((entry, format_of(entry, spec)))
    return files


def _known_extension(path: Path) -> str | None:
    name = path.name.lower()
    for compression in COMPRESSIONS:
        if name.endswith(compression):
            name = name.removesuffix(compression)
            break
    fmt = EXTENSIONS.get(Path(name).suffix)
    # pyarrow decompresses JSON and CSV by extension, but not a whole Parquet file.
    if fmt == "parquet" and name != path.name.lower():
        return None
    return fmt


def format_of(path: Path, spec: DatasetSpec) -> str:
    if spec.format != "auto":
        return spec.format
    fmt = _known_extension(path)
    if fmt is None:
        raise DatasetError(
            f"Cannot tell the format of {path} from its extension; rename it to .jsonl, "
            f".csv or .parquet, or set the dataset format explicitly."
        )
    return fmt
