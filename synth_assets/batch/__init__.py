"""synth_assets.batch — build, shard, validate and parse OpenAI Batch-API files.

No Dagster here: usable from a notebook or a script. The tutorial's API::

    from synth_assets.batch import BatchJob
    for line in BatchJob.create_from_messages(messages_batch=..., model=..., response_model=...):
        ...
    parsed, unparsed = BatchJob.parse_from_file(file_path=..., response_model=...)
"""

from .client import Backend, make_client, resolve_backend
from .errors import (
    BackendError,
    DuplicateCustomIdError,
    FileProblem,
    InvalidCustomIdError,
    InvalidRequestFileError,
    SynthError,
    UnsupportedModelError,
)
from .job import BatchJob
from .parse import (
    ParseSummary,
    ResultFiles,
    iter_results,
    parse_results,
    parse_to_parquet,
    requested_ids,
    write_tables,
)
from .reasons import Reason
from .records import LineMeta, Parsed, Unparsed
from .requests import RequestBuilder, RequestMode, from_rows, keyed, numbered
from .schema import function_tool, response_format, strict_json_schema
from .shards import Shard, write_request_file, write_shards
from .tables import UNPARSED_SCHEMA, ModelColumns, ParquetSink, parsed_schema
from .validate import check_request_file, validate_request_file

__all__ = [
    "UNPARSED_SCHEMA",
    "Backend",
    "BackendError",
    "BatchJob",
    "DuplicateCustomIdError",
    "FileProblem",
    "InvalidCustomIdError",
    "InvalidRequestFileError",
    "LineMeta",
    "ModelColumns",
    "ParquetSink",
    "ParseSummary",
    "Parsed",
    "Reason",
    "RequestBuilder",
    "RequestMode",
    "ResultFiles",
    "Shard",
    "SynthError",
    "Unparsed",
    "UnsupportedModelError",
    "check_request_file",
    "from_rows",
    "function_tool",
    "iter_results",
    "keyed",
    "make_client",
    "numbered",
    "parse_results",
    "parse_to_parquet",
    "parsed_schema",
    "requested_ids",
    "resolve_backend",
    "response_format",
    "strict_json_schema",
    "validate_request_file",
    "write_request_file",
    "write_shards",
    "write_tables",
]
