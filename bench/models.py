"""Response models shared by every side of the benchmark.

Plain pydantic v2 and nothing else, so that the project venv and both instructor
venvs import the very same classes (`bench/` is on `sys.path` of every worker).

- `Label`: the instructor tutorial's spam-triage model, one enum field.
- `Rich`: eight fields exercising what real extraction models use: an enum, bounded
  numbers, a nested model, a list of strings, a list of nested models with a nullable
  field (see `Entity.normalized`) and a `Literal`, a bool and free text. Every field is
  required (the nullable one has no default) so the model suits strict structured outputs.

Enums are `(str, Enum)` as in the tutorial (not `StrEnum`).
"""

from enum import Enum
from typing import Literal, Optional

from pydantic import BaseModel, Field


class Labels(str, Enum):
    """The two classes of the tutorial's spam triage."""

    SPAM = "spam"
    NOT_SPAM = "not_spam"


class Label(BaseModel):
    """Classify an email as spam or not."""

    class_label: Labels


class Category(str, Enum):
    """What an email is mostly about."""

    SPAM = "spam"
    BILLING = "billing"
    SUPPORT = "support"
    SALES = "sales"
    SECURITY = "security"
    PERSONAL = "personal"
    NEWSLETTER = "newsletter"
    OTHER = "other"


class Sender(BaseModel):
    """Who wrote the email."""

    name: str
    domain: str


EntityKind = Literal["person", "org", "product", "amount", "date"]


class Entity(BaseModel):
    """One named thing mentioned in the email."""

    text: str
    kind: EntityKind
    # `Optional[str]`, not `str | None`: instructor 1.3.7's schema helper only knows
    # `typing.Union` and crashes on a PEP 604 union inside a nested model
    # ("issubclass() arg 1 must be a class"). Same type for pydantic either way.
    normalized: Optional[str] = Field(  # noqa: UP045
        description="Canonical form, or null when unknown."
    )


class Rich(BaseModel):
    """Triage an email: category, urgency, sender, keywords, entities and a summary."""

    category: Category
    confidence: float = Field(ge=0, le=1)
    priority: int = Field(ge=1, le=5, description="1 = lowest, 5 = drop everything.")
    sender: Sender
    keywords: list[str]
    entities: list[Entity]
    needs_reply: bool
    summary: str


MODELS: dict[str, type[BaseModel]] = {"label": Label, "rich": Rich}
