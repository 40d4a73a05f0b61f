"""``BatchJob``: the API of instructor's Bulk Generation tutorial, done properly."""

import os
from collections.abc import Iterable, Iterator
from typing import Any, overload

from pydantic import BaseModel

from .parse import ResultFiles, iter_results, paused_gc
from .records import Parsed
from .requests import (
    CHAT_COMPLETIONS,
    Messages,
    RequestBuilder,
    RequestMode,
    checked,
    keyed,
    numbered,
)
from .shards import Shard, write_numbered_file, write_request_file


class BatchJob:
    """Build Batch-API request files and parse their results (tutorial-compatible)."""

    @overload
    @classmethod
    def create_from_messages(
        cls,
        messages_batch: Iterable[Messages],
        model: str,
        response_model: type[BaseModel],
        file_path: None = None,
        **options: Any,
    ) -> Iterator[dict[str, Any]]: ...

    @overload
    @classmethod
    def create_from_messages(
        cls,
        messages_batch: Iterable[Messages],
        model: str,
        response_model: type[BaseModel],
        file_path: str | os.PathLike[str],
        **options: Any,
    ) -> Shard: ...

    @classmethod
    def create_from_messages(
        cls,
        messages_batch: Iterable[Messages],
        model: str,
        response_model: type[BaseModel],
        file_path: str | os.PathLike[str] | None = None,
        *,
        mode: RequestMode | str = RequestMode.JSON_SCHEMA,
        custom_ids: Iterable[str] | None = None,
        endpoint: str = CHAT_COMPLETIONS,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        temperature: float | None = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]] | Shard:
        """Request lines for every message list, for ``model`` answering as ``response_model``.

        Without ``file_path`` it yields one dict per request (dump each with ``json.dumps``);
        with it, it writes the file through the fast path and returns its :class:`Shard`.
        ``custom_ids`` default to ``request-0``, ``request-1``, ... in order. ``mode`` is
        ``"json_schema"`` (strict structured outputs) or ``"tools"`` (a forced function
        tool). Generation parameters are sent only when given. The response model is checked
        before anything is produced: a model strict mode cannot express raises here.
        """
        builder = RequestBuilder(
            model=model,
            response_model=response_model,
            mode=mode,
            endpoint=endpoint,
            params={
                "max_tokens": max_tokens,
                "max_completion_tokens": max_completion_tokens,
                "temperature": temperature,
                **params,
            },
        )
        requests = (
            keyed(custom_ids, messages_batch)
            if custom_ids is not None
            else numbered(messages_batch)
        )
        if file_path is not None and custom_ids is None:
            return write_numbered_file(messages_batch, builder, file_path)
        if file_path is not None:
            return write_request_file(requests, builder, file_path)
        return (builder.line(custom_id, messages) for custom_id, messages in checked(requests))

    @classmethod
    def parse_from_file(
        cls,
        file_path: str | os.PathLike[str] | None,
        response_model: type[BaseModel],
        *,
        error_file_path: str | os.PathLike[str] | None = None,
        requested: str | os.PathLike[str] | Iterable[str] | None = None,
        with_custom_ids: bool = False,
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Parse a results file into ``(parsed, unparsed)``.

        ``parsed`` holds the validated ``response_model`` instances, in the file's order
        (which is not the order of the requests: the Batch API writes lines as they
        finish); with ``with_custom_ids=True`` it holds ``(custom_id, instance)`` pairs to
        join back to the inputs. ``unparsed`` holds one dict per failed row:
        ``custom_id``, ``reason`` (see the README's reason table), ``message``, ``raw``,
        status and error codes. Pass ``error_file_path`` and the request file as
        ``requested`` to account for every request (failed and missing ones included).
        """
        parsed: list[Any] = []
        unparsed: list[dict[str, Any]] = []
        files = ResultFiles(file_path, error_file_path, requested=requested)
        with paused_gc():
            for record in iter_results(files, response_model):
                if isinstance(record, Parsed):
                    parsed.append(
                        (record.custom_id, record.value) if with_custom_ids else record.value
                    )
                else:
                    unparsed.append(record.as_row())
        return parsed, unparsed
