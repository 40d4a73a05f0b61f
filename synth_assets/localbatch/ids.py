"""Object ids shaped like OpenAI's (``file-…``, ``batch_…``, ``batch_req_…``, ``req_…``).

Ids are the only thing a client can use to address stored objects, so the patterns here
are also the gate that keeps a request from naming a path: an id that does not match is
unknown (404) before any lookup happens.
"""

import hashlib
import random
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Ids of lines inside a file address nothing, and a server writes three per request:
# a fast PRNG (seeded from the OS) instead of a system call each.
_lines = random.Random(secrets.randbits(128))
FILE_ID = re.compile(r"file-[A-Za-z0-9]{8,64}")
BATCH_ID = re.compile(r"batch_[a-f0-9]{8,64}")


def file_id() -> str:
    """A new random file id (``file-`` + 22 base62 characters, like OpenAI's)."""
    return "file-" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def derived_file_id(*parts: str) -> str:
    """A file id derived from ``parts`` (the same parts always give the same id).

    Output files get derived ids so that a finalization interrupted by a crash and done
    again produces the same file, never a second one.
    """
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    number = int.from_bytes(digest[:17], "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "file-" + "".join(chars)


def batch_id() -> str:
    """A new batch id (``batch_`` + 32 hex characters)."""
    return "batch_" + secrets.token_hex(16)


def batch_request_id() -> str:
    """A new id for one line of an output or error file."""
    return f"batch_req_{_lines.getrandbits(128):032x}"


def request_id() -> str:
    """A new ``req_…`` id, as in ``response.request_id``."""
    return f"req_{_lines.getrandbits(128):032x}"


def short_id(prefix: str) -> str:
    """A new id such as ``chatcmpl-…``, ``resp_…``, ``msg_…`` or ``call_…``."""
    return f"{prefix}{_lines.getrandbits(96):024x}"


def is_file_id(value: str) -> bool:
    """True when ``value`` is shaped like a file id this server could have issued."""
    return FILE_ID.fullmatch(value) is not None


def is_batch_id(value: str) -> bool:
    """True when ``value`` is shaped like a batch id this server could have issued."""
    return BATCH_ID.fullmatch(value) is not None
