"""synth_assets.batch — build, shard, validate and parse OpenAI Batch-API files.

No Dagster here: usable from a notebook or a script. The tutorial's API::

    from synth_assets.batch import BatchJob
    for line in BatchJob.create_from_messages(messages_batch=..., model=..., response_model=...):
        ...
    parsed, unparsed = BatchJob.parse_from_file(file_path=..., response_model=...)

This ``__init__`` is the package's one public surface: the other layers (tasks, pipeline,
defs, cli, localbatch) import ``synth_assets.batch`` names from here, never from its
modules (``tests/test_public_apis.py`` checks it).
"""

from .classify import LineClassifier
from .client import (
    LOCAL_HOST,
    LOCAL_PORT,
    Backend,
    local_backend,
    make_client,
    resolve_backend,
    translate_api_error,
    unreachable_message,
)
from .errors import (
    BackendError,
    DuplicateCustomIdError,
    FileProblem,
    InvalidCustomIdError,
    InvalidRequestFileError,
    SynthError,
    UnsupportedModelError,
)
from .files import atomic_write
from .idset import IdSet
from .job import BatchJob
from .linejson import RequestLineParser
from .lines import is_line, iter_blocks, iter_lines
from .models import import_model
from .parse import (
    ParseSummary,
    ResultFiles,
    iter_results,
    parse_results,
    parse_to_parquet,
    paused_gc,
    requested_ids,
    write_tables,
)
from .pricing import batch_cost, estimate_tokens
from .reasons import Reason
from .records import LineMeta, Parsed, Unparsed, is_extra_line
from .remote import (
    MAX_METADATA_KEY,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
    NOT_REUSABLE,
    TERMINAL,
    BatchIndex,
    batch_error_summary,
    create_batch,
    download_file,
    find_batch,
    iter_batches,
    submit_file,
    upload_file,
)
from .requests import (
    ENDPOINTS,
    MAX_CUSTOM_ID_LENGTH,
    RESPONSES,
    Messages,
    RequestBuilder,
    RequestMode,
    from_rows,
    keyed,
    numbered,
)
from .resubmission import DEFAULT_RETRY_REASONS, is_retryable
from .schema import function_tool, response_format, strict_json_schema
from .shards import (
    MAX_BYTES_PER_FILE,
    MAX_REQUESTS_PER_FILE,
    Shard,
    write_lines,
    write_request_file,
    write_shards,
)
from .tables import UNPARSED_SCHEMA, ModelColumns, ParquetSink, parsed_schema
from .validate import check_request_file, validate_request_file

__all__ = [
    "DEFAULT_RETRY_REASONS",
    "ENDPOINTS",
    "LOCAL_HOST",
    "LOCAL_PORT",
    "MAX_BYTES_PER_FILE",
    "MAX_CUSTOM_ID_LENGTH",
    "MAX_METADATA_KEY",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE",
    "MAX_REQUESTS_PER_FILE",
    "NOT_REUSABLE",
    "RESPONSES",
    "TERMINAL",
    "UNPARSED_SCHEMA",
    "Backend",
    "BackendError",
    "BatchIndex",
    "BatchJob",
    "DuplicateCustomIdError",
    "FileProblem",
    "IdSet",
    "InvalidCustomIdError",
    "InvalidRequestFileError",
    "LineClassifier",
    "LineMeta",
    "Messages",
    "ModelColumns",
    "ParquetSink",
    "ParseSummary",
    "Parsed",
    "Reason",
    "RequestBuilder",
    "RequestLineParser",
    "RequestMode",
    "ResultFiles",
    "Shard",
    "SynthError",
    "Unparsed",
    "UnsupportedModelError",
    "atomic_write",
    "batch_cost",
    "batch_error_summary",
    "check_request_file",
    "create_batch",
    "download_file",
    "estimate_tokens",
    "find_batch",
    "from_rows",
    "function_tool",
    "import_model",
    "is_extra_line",
    "is_line",
    "is_retryable",
    "iter_batches",
    "iter_blocks",
    "iter_lines",
    "iter_results",
    "keyed",
    "local_backend",
    "make_client",
    "numbered",
    "parse_results",
    "parse_to_parquet",
    "parsed_schema",
    "paused_gc",
    "requested_ids",
    "resolve_backend",
    "response_format",
    "strict_json_schema",
    "submit_file",
    "translate_api_error",
    "unreachable_message",
    "upload_file",
    "validate_request_file",
    "write_lines",
    "write_request_file",
    "write_shards",
    "write_tables",
]
