"""Deterministic generator of benchmark inputs: chat messages and Batch-API output files.

For a size N it writes, under `.bench/data/`:

- `messages-N.jsonl`: N lines, each a JSON list of chat messages (system prompt + an
  email of 300-800 characters), the input of the *build* step;
- `output-{model}-N.jsonl`: the Batch-API output file answering those N requests in
  `json_schema` mode (the answer is `message.content`), custom_ids `req-<i>`;
- `output-{model}-N-tools.jsonl`: the same answers in `tools` mode (the answer is
  `message.tool_calls[0].function.arguments`). instructor 1.3.7 only reads tool calls, so
  it gets this file; everything else reads the `json_schema` one.

About 2% of the output lines fail, spread evenly over five kinds: content that is not
JSON, JSON that fails the model, a refusal, a `finish_reason: "length"` truncation and a
`status_code: 500` line. Both output files of a model fail on the same lines, the same way.

Speed matters (1M lines must take seconds, not minutes): every string that needs JSON
escaping is escaped once into a pool up front, and each line is assembled from pooled,
pre-escaped pieces with plain string formatting, written through one buffered handle.
Files are written to a temporary name and renamed, so a half-written file is never reused.

Usage: `python bench/generate.py --sizes 20000,100000 [--models label,rich] [--force]`
"""

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

DATA_DIR = Path(__file__).resolve().parent.parent / ".bench" / "data"
SEED = 20240718
POOL_SIZE = 8192  # distinct emails (and answers); each line also gets a unique ticket number
FAILURE_RATE = 0.02
FAILURE_KINDS = ("invalid_json", "schema_mismatch", "refusal", "truncated", "http_500")
MODEL_NAME = "gpt-4o-mini-2024-07-18"
BUFFER = 1 << 20

SYSTEM_PROMPT = (
    "You are an email triage assistant for a mid-sized company. Read the email below and "
    "answer strictly in the requested JSON format. Classify it, judge how urgent it is, "
    "identify the sender, list the important keywords and entities, and summarize it in "
    "one or two sentences. Do not invent facts that are not in the email."
)

FIRST = (
    "Alice",
    "Bob",
    "Carla",
    "Daniel",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Xenia",
    "Yusuf",
    "Zoe",
)
LAST = (
    "Anderson",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Olsen",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
)
ORGS = (
    ("Northwind Traders", "northwind.com"),
    ("Contoso Ltd", "contoso.com"),
    ("Fabrikam", "fabrikam.io"),
    ("Globex", "globex.net"),
    ("Initech", "initech.com"),
    ("Umbrella Health", "umbrellahealth.org"),
    ("Acme Cloud", "acmecloud.dev"),
    ("Stark Logistics", "starklogistics.eu"),
    ("Wayne Analytics", "wayneanalytics.co"),
    ("Tyrell Systems", "tyrell.systems"),
)
SPAM_DOMAINS = ("win-prizes.biz", "secure-verify-acct.info", "cheap-meds.top", "crypto-x10.io")
PRODUCTS = (
    "Pro plan",
    "Team license",
    "API add-on",
    "data export",
    "mobile app",
    "SSO connector",
    "analytics dashboard",
    "backup service",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Sentences per category; {p} product, {a} amount, {d} date, {o} organization, {n} a name.
SENTENCES: dict[str, tuple[str, ...]] = {
    "spam": (
        "Congratulations, you have been selected to receive {a} in cash rewards today.",
        "Click the link below to claim your prize before {d}, or it will be forfeited.",
        "Your account has been temporarily suspended, verify your password immediately.",
        "We guarantee a 900% return on your investment within one week, no risk at all.",
        "Limited offer: buy the {p} now at 95% off, only three licenses left.",
        "Reply with your bank details so we can transfer the funds to you securely.",
        "This is not spam, you are receiving this because you are a valued winner.",
    ),
    "billing": (
        "Invoice INV-{k} for the {p} is attached, with a total of {a} due on {d}.",
        "We noticed a duplicate charge of {a} on your card for the {p}.",
        "Could you confirm the purchase order number so our accounts team can pay {o}?",
        "The payment of {a} scheduled for {d} failed because the card has expired.",
        "Please update the billing address on file before the next renewal on {d}.",
        "Our finance department needs a corrected invoice listing VAT separately.",
    ),
    "support": (
        "Since {d} the {p} returns an error 502 whenever we try to log in.",
        "Several users on our team cannot reset their passwords with the {p}.",
        "The export job has been stuck at 99% for six hours, can you take a look?",
        "We followed the setup guide but the {p} still fails the health check.",
        "Is there a workaround until the fix is deployed? Our launch is on {d}.",
        "Attached are the logs {n} collected when the crash happened this morning.",
    ),
    "sales": (
        "We are evaluating the {p} for about 250 seats and would like a quote.",
        "Could we schedule a demo with {n} sometime before {d}?",
        "Our current contract with {o} ends on {d} and we are comparing offers.",
        "Is volume pricing available above {a} per year for the {p}?",
        "Please send the security questionnaire and your standard MSA.",
    ),
    "security": (
        "We detected a login to your {p} account from a new device in another country.",
        "A vulnerability report concerning the {p} was submitted by {n} on {d}.",
        "Please rotate the API keys that were exposed in the public repository.",
        "Two-factor authentication will become mandatory for all admins on {d}.",
        "Our audit found that the backup bucket was readable without credentials.",
    ),
    "personal": (
        "Are you free for lunch on {d}? {n} suggested the new place near the office.",
        "Thanks again for the help with the move last weekend, it meant a lot.",
        "I attached the photos from the team offsite, the sunset ones are great.",
        "Happy birthday! Hope you have a relaxing day with the family.",
    ),
    "newsletter": (
        "This month: what is new in the {p}, customer stories and upcoming webinars.",
        "Join {n} from {o} on {d} for a live session on scaling data pipelines.",
        "Read our guide to cutting cloud costs by 30% without losing reliability.",
        "You are receiving this newsletter because you subscribed on our website.",
    ),
}
# Neutral sentences that pad a short email once its category's sentences are used up.
FILLER = (
    "Let me know if you need anything else from my side.",
    "I am copying {n} who has more context on this.",
    "Sorry for the long email, I wanted to give you the full picture.",
    "We would appreciate an answer before {d} if at all possible.",
    "Feel free to call me if that is easier than writing back.",
)
KEYWORDS = {
    "spam": ("prize", "reward", "verify account", "limited offer", "bank details", "winner"),
    "billing": ("invoice", "duplicate charge", "payment failed", "renewal", "VAT", "refund"),
    "support": ("login error", "502", "password reset", "export", "health check", "logs"),
    "sales": ("quote", "demo", "volume pricing", "contract", "security questionnaire"),
    "security": ("new device", "vulnerability", "API keys", "2FA", "audit", "exposure"),
    "personal": ("lunch", "thanks", "photos", "birthday", "offsite"),
    "newsletter": ("webinar", "product news", "cloud costs", "customer stories"),
}
CATEGORY_WEIGHTS = {
    "spam": 30,
    "billing": 15,
    "support": 20,
    "sales": 10,
    "security": 8,
    "personal": 7,
    "newsletter": 10,
}
SUBJECTS = {
    "spam": ("You WON!!!", "Urgent: account verification", "Exclusive offer inside"),
    "billing": ("Invoice question", "Payment failed", "Duplicate charge"),
    "support": ("Login broken", "Export stuck", "Help needed with setup"),
    "sales": ("Pricing request", "Demo request", "Evaluating your product"),
    "security": ("New sign-in detected", "Vulnerability report", "Key rotation required"),
    "personal": ("Lunch?", "Thank you", "Photos"),
    "newsletter": ("Monthly update", "Webinar invitation", "Product news"),
}
SUMMARY_VERBS = ("asks about", "reports a problem with", "mentions", "follows up on", "is about")


def esc(text: str) -> str:
    """JSON-escape `text` without the surrounding quotes (so pieces can be concatenated)."""
    return json.dumps(text)[1:-1]


def dumps_compact(obj: object) -> str:
    """Serialize an answer the way a model writes it: compact JSON."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class PoolEmail:
    """One pooled email, pre-escaped, with the answers that fit it."""

    subject_esc: str  # escaped subject, a unique ticket number is appended per line
    body_esc: str  # escaped body
    prompt_tokens: int
    label_answer: str  # compact JSON answer for `Label`
    rich_answer: str  # compact JSON answer for `Rich`


def _make_email(rng: random.Random) -> PoolEmail:
    """Compose one email of 300-800 characters and the answers a model would give."""
    category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    org, org_domain = rng.choice(ORGS)
    domain = rng.choice(SPAM_DOMAINS) if category == "spam" else org_domain
    colleague = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    product = rng.choice(PRODUCTS)
    amount = f"${rng.randint(20, 20000):,}.{rng.randint(0, 99):02d}"
    month, day = rng.randrange(12), rng.randint(1, 28)
    date = f"{MONTHS[month]} {day}"
    fill = {"p": product, "a": amount, "d": date, "o": org, "n": colleague}

    target = rng.randint(300, 800)
    lines = [f"Hi {rng.choice(['team', 'there', 'support', rng.choice(FIRST)])},", ""]
    used: list[str] = []
    # Each sentence at most once: the category's own in random order, then neutral fillers.
    candidates = rng.sample(SENTENCES[category], len(SENTENCES[category]))
    candidates += rng.sample(FILLER, len(FILLER))
    while candidates and sum(len(s) + 1 for s in lines) < target - 60:
        template = candidates.pop(0)
        used.append(template)
        lines.append(template.format(k=rng.randint(10000, 99999), **fill))
    lines += ["", rng.choice(["Best regards,", "Thanks,", "Cheers,", "Kind regards,"])]
    lines += [f"{first} {last}", f"{first.lower()}.{last.lower()}@{domain}"]
    body = "\n".join(lines)
    subject = rng.choice(SUBJECTS[category])

    joined = " ".join(used)
    entities = [{"text": f"{first} {last}", "kind": "person", "normalized": None}]
    if "{a}" in joined:
        entities.append({"text": amount, "kind": "amount", "normalized": amount.strip("$")})
    if "{d}" in joined:
        entities.append(
            {"text": date, "kind": "date", "normalized": f"2024-{month + 1:02d}-{day:02d}"}
        )
    if "{p}" in joined:
        entities.append({"text": product, "kind": "product", "normalized": product.lower()})
    if "{n}" in joined:
        entities.append({"text": colleague, "kind": "person", "normalized": colleague.lower()})
    if "{o}" in joined:
        entities.append({"text": org, "kind": "org", "normalized": None})
    keywords = rng.sample(KEYWORDS[category], rng.randint(2, 4))
    rich = {
        "category": "other" if category == "spam" and rng.random() < 0.1 else category,
        "confidence": round(rng.uniform(0.55, 1.0), 2),
        "priority": rng.randint(1, 2) if category in ("spam", "newsletter") else rng.randint(2, 5),
        "sender": {"name": f"{first} {last}", "domain": domain},
        "keywords": keywords,
        "entities": entities,
        "needs_reply": category in ("billing", "support", "sales", "security"),
        "summary": f"{first} {last} from {domain} {rng.choice(SUMMARY_VERBS)} "
        f"{product if '{p}' in joined else category}: {subject.lower()}.",
    }
    label = {"class_label": "spam" if category == "spam" else "not_spam"}
    return PoolEmail(
        subject_esc=esc(f"Subject: {subject} [ticket "),
        body_esc=esc(f"]\n\n{body}"),
        prompt_tokens=(len(SYSTEM_PROMPT) + len(body)) // 4 + 12,
        label_answer=dumps_compact(label),
        rich_answer=dumps_compact(rich),
    )


def _bad_answer(model: str, rng: random.Random) -> str:
    """Well-formed JSON that fails the response model's validation."""
    if model == "label":
        return dumps_compact(rng.choice([{"class_label": "ham"}, {"label": "spam"}]))
    good = {
        "category": "billing",
        "confidence": 0.9,
        "priority": 3,
        "sender": {"name": "Ann Lee", "domain": "contoso.com"},
        "keywords": ["invoice"],
        "entities": [],
        "needs_reply": True,
        "summary": "An invoice question.",
    }
    broken = rng.choice(
        [{"confidence": 7.5}, {"category": "urgent"}, {"priority": 9}, {"sender": "Ann"}]
    )
    return dumps_compact({**good, **broken})


class Plan:
    """Per-line choices shared by every file of one size (same seed, same order)."""

    def __init__(self, n: int, seed: int = SEED) -> None:
        rng = random.Random(seed)
        self.pool = [_make_email(rng) for _ in range(POOL_SIZE)]
        self.picks = [rng.randrange(POOL_SIZE) for _ in range(n)]
        # Failure kind per line, or None; ~2% of lines, kinds evenly spread.
        self.failures: dict[int, str] = {
            i: rng.choice(FAILURE_KINDS) for i in range(n) if rng.random() < FAILURE_RATE
        }


@contextmanager
def atomic_open(path: Path) -> Iterator[TextIO]:
    """Open `path.tmp` for buffered writing; rename it to `path` only if the block succeeds."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", buffering=BUFFER) as handle:
        yield handle
    os.replace(tmp, path)


def write_messages(handle: TextIO, plan: Plan) -> None:
    """Write one JSON list of chat messages per line."""
    head = '[{"role": "system", "content": "' + esc(SYSTEM_PROMPT) + '"}, '
    head += '{"role": "user", "content": "'
    pool, out = plan.pool, handle.write
    for i, pick in enumerate(plan.picks):
        email = pool[pick]
        out(f'{head}{email.subject_esc}{i}{email.body_esc}"}}]\n')


def write_outputs(content_handle: TextIO, tools_handle: TextIO, plan: Plan, model: str) -> None:
    """Write the json_schema-mode and tools-mode output files of `model` in one pass."""
    rng = random.Random(f"{SEED}-{model}")
    tool_name = "Label" if model == "label" else "Rich"
    fingerprints = [f"fp_{rng.getrandbits(40):010x}" for _ in range(3)]
    created = 1_721_300_000
    pool, failures = plan.pool, plan.failures
    write_content, write_tools = content_handle.write, tools_handle.write
    bits = rng.getrandbits
    for i, pick in enumerate(plan.picks):
        email = pool[pick]
        answer = email.label_answer if model == "label" else email.rich_answer
        head = f'{{"id": "batch_req_{bits(128):032x}", "custom_id": "req-{i}", "response": '
        request = f'"request_id": "req_{bits(128):032x}"'
        kind = failures.get(i)
        if kind == "http_500":
            line = (
                f'{head}{{"status_code": 500, {request}, "body": {{"error": {{"message": '
                '"The server had an error while processing your request. Sorry about that!", '
                '"type": "server_error", "param": null, "code": null}}}, "error": null}\n'
            )
            write_content(line)
            write_tools(line)
            continue
        finish, refusal = "stop", "null"
        if kind == "invalid_json":
            answer = "Sure! This email looks like " + ("spam." if "spam" in answer else "work.")
        elif kind == "schema_mismatch":
            answer = _bad_answer(model, rng)
        elif kind == "truncated":
            answer, finish = answer[: len(answer) // 2], "length"
        elif kind == "refusal":
            refusal = '"I can\'t help with that"'
        completion_tokens = len(answer) // 3 + 1
        created += i & 1  # a few requests finish per second
        tail = (
            f'"logprobs": null, "finish_reason": "{finish}"}}], "usage": {{"prompt_tokens": '
            f'{email.prompt_tokens}, "completion_tokens": {completion_tokens}, "total_tokens": '
            f'{email.prompt_tokens + completion_tokens}}}, "system_fingerprint": '
            f'"{fingerprints[i % 3]}"}}}}, "error": null}}\n'
        )
        body = (
            f'{head}{{"status_code": 200, {request}, "body": {{"id": "chatcmpl-{bits(116):029x}", '
            f'"object": "chat.completion", "created": {created}, "model": "{MODEL_NAME}", '
            '"choices": [{"index": 0, "message": {"role": "assistant", "content": '
        )
        if kind == "refusal":
            write_content(f'{body}null, "refusal": {refusal}}}, {tail}')
            write_tools(f'{body}null, "refusal": {refusal}}}, {tail}')
            continue
        encoded = json.dumps(answer)  # the answer is a JSON string inside the JSON line
        write_content(f'{body}{encoded}, "refusal": null}}, {tail}')
        write_tools(
            f'{body}null, "tool_calls": [{{"id": "call_{bits(96):024x}", "type": "function", '
            f'"function": {{"name": "{tool_name}", "arguments": {encoded}}}}}], '
            f'"refusal": null}}, {tail}'
        )


def paths(n: int, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Where the files of size `n` live (keys: messages, output-label, tools-label, ...)."""
    found = {"messages": data_dir / f"messages-{n}.jsonl"}
    for model in ("label", "rich"):
        found[f"output-{model}"] = data_dir / f"output-{model}-{n}.jsonl"
        found[f"tools-{model}"] = data_dir / f"output-{model}-{n}-tools.jsonl"
    return found


def ensure_data(
    n: int, models: tuple[str, ...] = ("label", "rich"), force: bool = False
) -> dict[str, Path]:
    """Generate the missing files of size `n` (all of them with `force`); return the paths."""
    where = paths(n)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    wanted = ["messages"] + [f"output-{m}" for m in models] + [f"tools-{m}" for m in models]
    if not force and all(where[key].exists() for key in wanted):
        return where
    started = time.perf_counter()
    plan = Plan(n)
    print(f"[generate] N={n:,}: plan {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if force or not where["messages"].exists():
        t0 = time.perf_counter()
        with atomic_open(where["messages"]) as handle:
            write_messages(handle, plan)
        took = time.perf_counter() - t0
        print(f"[generate] {where['messages'].name}: {took:.1f}s", file=sys.stderr)
    for model in models:
        content_path, tools_path = where[f"output-{model}"], where[f"tools-{model}"]
        if not force and content_path.exists() and tools_path.exists():
            continue
        t0 = time.perf_counter()
        with atomic_open(content_path) as content, atomic_open(tools_path) as tools:
            write_outputs(content, tools, plan, model)
        took = time.perf_counter() - t0
        print(f"[generate] {content_path.name} + {tools_path.name}: {took:.1f}s", file=sys.stderr)
    total = time.perf_counter() - started
    print(f"[generate] N={n:,} done in {total:.1f}s", file=sys.stderr)
    return where


def main() -> None:
    """Command line: generate the files for the given sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated N values")
    parser.add_argument("--models", default="label,rich")
    parser.add_argument("--force", action="store_true", help="regenerate existing files")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        ensure_data(n, tuple(args.models.split(",")), force=args.force)


if __name__ == "__main__":
    main()
