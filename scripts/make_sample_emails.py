"""Generate the sample email dataset under ``data/emails/`` (hive layout, one JSONL per day).

The output is committed, so the generator must be deterministic: every random choice comes
from one ``random.Random`` per day seeded from ``--seed`` and the day's index, nothing reads
the clock, the environment or the network, and rows are written in generation order with
``json.dumps(..., ensure_ascii=False)`` (stable key order, ``\\n`` line endings). Running it
twice gives byte-identical files.

Layout::

    <out>/date=2026-11-01/emails.jsonl
    ...
    <out>/date=2026-11-07/emails.jsonl

Columns: email_id, date, sender, subject, body, language, label (``spam`` / ``not_spam``).

Usage::

    python scripts/make_sample_emails.py            # writes data/emails/ next to this script
    python scripts/make_sample_emails.py --out /tmp/emails --seed 7

Only the standard library is used, so the script runs without the project installed.
"""

import argparse
import datetime as dt
import itertools
import json
import random
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_SEED = 20261101
FIRST_DAY = dt.date(2026, 11, 1)
DAYS = 7
MIN_PER_DAY, MAX_PER_DAY = 200, 400
# Per-day spam share is drawn from this range, inside the 30-45% the dataset promises.
SPAM_SHARE = (0.32, 0.42)
# Share of emails that get one extra "odd character" treatment on top of what the templates
# already contain (emoji, RTL text, zero-width spaces, CJK, backslashes, tabs, CRLF ...).
ODD_SHARE = 0.06

# Weighted language mix: mostly English, like a real European inbox.
LANGUAGES = [
    ("en", 46),
    ("de", 13),
    ("fr", 11),
    ("es", 10),
    ("pt", 8),
    ("it", 8),
    ("ja", 2),
    ("zh", 2),
]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "emails"

# --------------------------------------------------------------------------------------
# Slot values
# --------------------------------------------------------------------------------------

# (first names, last names) per language; space-separated to keep the tables compact.
NAMES = {
    lang: (firsts.split(), lasts.split())
    for lang, firsts, lasts in [
        (
            "en",
            "Olivia James Priya Marcus Hannah Daniel Aisha Tom Grace Ethan Chloe Samuel "
            "Nadia Owen Rachel Kwame",
            "Bennett Okafor Sharma Whitfield Nguyen Murphy Khan "
            "Foster O'Brien Reyes Campbell Hughes Lindqvist Patel",
        ),
        (
            "de",
            "Lukas Anna Jonas Lea Felix Sophie Moritz Katharina Jürgen Birgit Tobias Sabine",
            "Müller Schmidt Weber Schäfer Becker Hoffmann Krüger Wagner Zimmermann Braun",
        ),
        (
            "fr",
            "Camille Louis Chloé Hugo Léa Mathieu Élodie Julien Manon Théo",
            "Dubois Lefèvre Moreau Laurent Girard Bonnet Fournier Mercier Rousseau",
        ),
        (
            "es",
            "Lucía Javier Marta Alejandro Carmen Diego Sofía Pablo Elena Andrés",
            "García Fernández López Martínez Sánchez Romero Navarro Ortega Iglesias",
        ),
        (
            "pt",
            "João Beatriz Rafael Mariana Tiago Inês Gonçalo Larissa Pedro Camila",
            "Silva Santos Ferreira Oliveira Costa Rodrigues Almeida Carvalho Sousa",
        ),
        (
            "it",
            "Giulia Marco Francesca Luca Chiara Alessandro Sara Matteo Elena Davide",
            "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino",
        ),
        ("ja", "健太 美咲 翔 陽菜 大輔 由美", "佐藤 鈴木 高橋 田中 伊藤 渡辺"),
        ("zh", "伟 芳 娜 敏 静 磊", "王 李 张 刘 陈 杨"),
    ]
}
# Latin transliterations for e-mail addresses of CJK senders.
ROMAJI = {
    "ja": [
        "kenta.sato",
        "misaki.suzuki",
        "sho.takahashi",
        "hina.tanaka",
        "daisuke.ito",
        "yumi.watanabe",
    ],
    "zh": ["wei.wang", "fang.li", "na.zhang", "min.liu", "jing.chen", "lei.yang"],
}
# Company domains end in the sender's country (the first TLD is the most common).
TLDS = {
    "en": [".com", ".com", ".io", ".co.uk"],
    "de": [".de", ".de", ".com"],
    "fr": [".fr", ".fr", ".com"],
    "es": [".es", ".es", ".com"],
    "pt": [".pt", ".com.br", ".com"],
    "it": [".it", ".it", ".com"],
}
# Domains of the CJK companies below, index-aligned (slug() of a CJK name is empty).
CJK_DOMAINS = {
    "ja": ["yamada-shoji.co.jp", "tokyo-cloud.jp", "sakura-unyu.co.jp"],
    "zh": ["huaxing-tech.cn", "changjiang-logistics.com.cn", "beichen-soft.cn"],
}

COMPANIES = {
    "en": [
        "Northwind Traders",
        "Bluepeak Analytics",
        "Harbor & Finch",
        "Larkspur Labs",
        "Quillfeather Press",
        "Redwood Freight",
        "Atlas Office Supply",
        "Cobalt Cloud",
    ],
    "de": [
        "Brenner Logistik GmbH",
        "Alpenblick Software AG",
        "Hansewerk Büro KG",
        "Rheinstrom Energie",
        "Kleinschmidt & Söhne",
    ],
    "fr": [
        "Atelier Lumière SARL",
        "Groupe Verneuil",
        "Boulangerie Martin",
        "Cloudéa",
        "Éditions du Phare",
    ],
    "es": [
        "Soluciones Brisa S.L.",
        "Transportes Iberia Sur",
        "Librería El Faro",
        "Nube Roja Tecnología",
    ],
    "pt": [
        "Casa Verde Lda.",
        "TecnoSul Sistemas",
        "Transportadora Horizonte",
        "Livraria Atlântico",
    ],
    "it": ["Ferro & Figli S.r.l.", "Studio Aurora", "Logistica Adriatica", "Nuvola Software"],
    "ja": ["山田商事", "東京クラウド株式会社", "さくら運輸"],
    "zh": ["华星科技", "长江物流", "北辰软件"],
}

PRODUCTS = {
    "en": [
        "ergonomic office chair",
        "USB-C docking station",
        '27" monitor',
        "noise-cancelling headset",
        "A4 copy paper (5 reams)",
        "standing desk frame",
        "annual software licence",
        "toner cartridge TN-2420",
    ],
    "de": [
        "Bürostuhl ErgoPlus",
        "Druckerpatrone XL",
        "Laptop-Ständer",
        "Kopierpapier A4",
        "Softwarelizenz (12 Monate)",
    ],
    "fr": [
        "chaise de bureau",
        "cartouche d'encre",
        "station d'accueil USB-C",
        "licence logicielle annuelle",
        "ramettes de papier A4",
    ],
    "es": [
        "silla ergonómica",
        "cartucho de tóner",
        'monitor de 27"',
        "licencia anual",
        "auriculares inalámbricos",
    ],
    "pt": [
        "cadeira ergonómica",
        "cartucho de tinta",
        "teclado sem fios",
        "licença anual",
        'monitor 24"',
    ],
    "it": [
        "sedia da ufficio",
        "cartuccia toner",
        "docking station USB-C",
        "licenza annuale",
        "risme di carta A4",
    ],
    "ja": ["ノートパソコン", "オフィスチェア", "プリンター用トナー"],
    "zh": ["办公椅", "显示器", "打印机墨盒"],
}

PROJECTS = [
    "Atlas",
    "Falcon",
    "Q4 roadmap",
    "Helios",
    "billing migration",
    "Nimbus",
    "onboarding revamp",
    "data platform",
    "Orion",
    "mobile app 3.0",
]
TEAMS = [
    "Platform",
    "Finance",
    "Growth",
    "Data",
    "Customer Success",
    "Infrastructure",
    "Design",
    "Legal",
]
REPOS = [
    "acme/ledger",
    "acme/web-frontend",
    "acme/ingest-service",
    "tools/deploy-scripts",
    "acme/mobile-app",
    "data/etl-jobs",
]
PR_TITLES = [
    "Fix off-by-one in pagination cursor",
    "Add retry with backoff to the upload client",
    "Normalize Windows paths before hashing",
    "Bump pyarrow to 17 and drop the compat shim",
    "Refactor invoice PDF renderer",
    "Handle empty CSV uploads gracefully",
    "Escape backslashes in generated SQL identifiers",
    "Remove dead feature flag `new_checkout`",
]
MODULES = [
    "pagination",
    "uploader",
    "paths",
    "invoice_pdf",
    "csv_import",
    "sql_quote",
    "feature_flags",
    "settings",
]
CARRIERS = ["DHL", "UPS", "FedEx", "DPD", "GLS", "Royal Mail", "Hermes"]
ROOMS = ["Room 4.12", "the Orca room", "Kestrel (3rd floor)", "the big kitchen", "Meeting room B"]
CITIES = ["Lisbon", "Kyoto", "Edinburgh", "Valencia", "Kraków", "Montréal", "Bologna", "Hamburg"]
ISSUES = [
    "sync agent stops after Windows update",
    "export to CSV produces empty file",
    "cannot reset two-factor authentication",
    "invoice shows wrong VAT number",
    "mobile app crashes on login",
    "webhook deliveries delayed by hours",
]
NEWSLETTER_TOPICS = [
    (
        "Product update",
        "We shipped faster search across all your workspaces, a redesigned "
        "sharing dialog and keyboard shortcuts for almost every action. Search results now "
        "load in under 200 ms for 95% of queries, and you can filter by owner, date and type.",
    ),
    (
        "Customer story",
        "How a 40-person logistics company cut invoice processing time in "
        "half: they replaced three spreadsheets and a shared inbox with one automated "
        "workflow, and now close the month two days earlier than last year.",
    ),
    (
        "Webinar",
        "Join our product team next Thursday for a live walkthrough of the new "
        "reporting module. Bring your questions — we keep the last 20 minutes for Q&A, and "
        "every attendee gets the recording and the slides afterwards.",
    ),
    (
        "From the blog",
        "Five habits of teams that actually read their dashboards: fewer "
        "charts, clearer owners, a weekly ritual, alerts that mean something, and the courage "
        "to delete what nobody looked at in the last quarter.",
    ),
    (
        "Security note",
        "We rotated our signing keys as part of our yearly review. Nothing is "
        "required from you, but if you pin certificates in custom integrations, please check "
        "the updated fingerprints on our status page.",
    ),
    (
        "Community",
        "This month's community champion built an open-source connector that "
        "syncs tasks with three popular calendars. It has been starred 1,200 times and is now "
        "listed in our integrations directory.",
    ),
    (
        "Events",
        "We'll be at the regional developer conference in Lisbon and Kraków. Stop "
        "by our booth for stickers, a coffee and a candid conversation about what we should "
        "build next. Our engineers will run short demos every hour.",
    ),
    (
        "Pricing",
        "Starting next quarter, annual plans include unlimited guest users. "
        "Monthly plans are unchanged. If you are on a legacy plan, nothing changes until "
        "your next renewal, and we will remind you 30 days in advance.",
    ),
    (
        "Tips & tricks",
        "Did you know you can drag a file onto any comment to attach it, or "
        "type a slash to insert a table, a checklist or a code block? Press the question "
        "mark key anywhere to see every shortcut available on the current page.",
    ),
]

BANKS = [
    "First Meridian Bank",
    "Crestline Credit Union",
    "Nordbank24",
    "Banco Solaris",
    "PayPaI",
    "Amaz0n Pay",
    "Netflix Billing",
]
BAD_TLDS = ["xyz", "top", "click", "info", "ru", "cn", "biz", "live"]
SPAM_DOMAINS = [
    "winner-notify",
    "secure-verify",
    "mail-central",
    "promo-blast",
    "account-alerts",
    "crypto-gains",
    "rx-discount",
    "claims-office",
]
COINS = ["BTC", "ETH", "SOL", "DOGE", "QuantumX token", "MetaYield"]
PRINCES = [
    "Prince Adewale Okonjo",
    "Dr. Ibrahim Musa",
    "Barrister James Kofi",
    "Mrs. Grace Williams",
    "General Samuel Abiola",
]

WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
    "pt": [
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
        "sábado",
        "domingo",
    ],
    "it": ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
    "ja": ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"],
    "zh": ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"],
}
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


NNBSP = "\u202f"


def fmt_date(day: dt.date, lang: str) -> str:
    """A date the way a human writing in ``lang`` would."""
    if lang == "en":
        return f"{MONTHS_EN[day.month - 1]} {day.day}"
    if lang == "de":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if lang in ("ja", "zh"):
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def fmt_amount(cents: int, lang: str) -> str:
    """A money amount in the local notation (decimal comma, currency position)."""
    units, rest = divmod(cents, 100)
    grouped = f"{units:,}"
    if lang == "en":
        return f"${grouped}.{rest:02d}"
    if lang == "ja":
        return f"¥{units * 150:,}"
    if lang == "zh":
        return f"¥{units * 7:,}.{rest:02d}"
    if lang == "fr":
        # French groups thousands with a narrow no-break space.
        return grouped.replace(",", NNBSP) + f",{rest:02d} €"
    if lang == "pt":
        return f"R$ {grouped.replace(',', '.')},{rest:02d}"
    return f"{grouped.replace(',', '.')},{rest:02d} €"


def slug(text: str) -> str:
    """Lower-case ASCII for e-mail local parts and domains."""
    table = str.maketrans("äöüßéèêëáàâíìîóòôõúùûçñ", "aousee" + "eeaaaiiioooouuucn")
    out = "".join(
        ch if ch.isascii() and ch.isalnum() else "-" for ch in text.lower().translate(table)
    )
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


def context(rng: random.Random, lang: str, day: dt.date) -> dict[str, str]:
    """All slot values one email may use; computed up front so an email is consistent."""
    firsts, lasts = NAMES[lang]
    first, last = rng.choice(firsts), rng.choice(lasts)
    rfirst = rng.choice([n for n in firsts if n != first])
    company = rng.choice(COMPANIES[lang])
    later = day + dt.timedelta(days=rng.randint(1, 12))
    cents = rng.randint(1_500, 980_000)
    qty = rng.randint(1, 12)
    letters = string.ascii_uppercase
    return {
        "first": first,
        "last": last,
        "full": f"{last}{first}" if lang in ("ja", "zh") else f"{first} {last}",
        "rfirst": rfirst,
        "company": company,
        "company_slug": slug(company) or "mail",
        "local": f"{slug(first)}.{slug(last)}".strip(".") or "user",
        "product": rng.choice(PRODUCTS[lang]),
        "project": rng.choice(PROJECTS),
        "team": rng.choice(TEAMS),
        "amount": fmt_amount(cents, lang),
        "big_amount": fmt_amount(rng.choice([850_000_000, 1_250_000_000, 2_450_000_000]), lang),
        "small_amount": fmt_amount(rng.randint(900, 9_900), lang),
        "qty": str(qty),
        "unit_price": fmt_amount(cents // qty, lang),
        "ship": fmt_amount(rng.choice([0, 495, 990, 1_490]), lang),
        "invoice_no": f"INV-{day.year}-{rng.randint(10_000, 99_999)}",
        "order_no": f"{rng.randint(100, 999)}-{rng.randint(1_000_000, 9_999_999)}",
        "tracking": "".join(rng.choice(letters) for _ in range(2))
        + "".join(rng.choice(string.digits) for _ in range(9))
        + rng.choice(["DE", "GB", "US", "FR", "ES"]),
        "carrier": rng.choice(CARRIERS),
        "weekday": rng.choice(WEEKDAYS[lang][:5]),
        "time": f"{rng.randint(8, 17)}:{rng.choice(['00', '15', '30', '45'])}",
        "due": fmt_date(later, lang),
        "today": fmt_date(day, lang),
        "room": rng.choice(ROOMS),
        "city": rng.choice(CITIES),
        "repo": rng.choice(REPOS),
        "pr": str(rng.randint(120, 4_800)),
        "pr_title": rng.choice(PR_TITLES),
        "module": rng.choice(MODULES),
        "line": str(rng.randint(12, 480)),
        "ticket": str(rng.randint(100_000, 999_999)),
        "issue": rng.choice(ISSUES),
        "bank": rng.choice(BANKS),
        "coin": rng.choice(COINS),
        "prince": rng.choice(PRINCES),
        "percent": str(rng.choice([60, 70, 75, 80, 85, 90])),
        "mult": str(rng.choice([10, 20, 50, 100])),
        "token": "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(12)),
        "bad_domain": f"{rng.choice(SPAM_DOMAINS)}.{rng.choice(BAD_TLDS)}",
        "quarter": rng.choice(["Q1", "Q2", "Q3", "Q4"]),
        "pct_done": str(rng.randint(40, 95)),
    }


# --------------------------------------------------------------------------------------
# Templates: (subject, body) pairs per language, label and kind.
# Bodies may contain "{slot}" placeholders; literal braces are doubled.
# --------------------------------------------------------------------------------------

Template = tuple[str, str]

Builder = Callable[[random.Random, dict[str, str], str], Template]

HAM: dict[str, dict[str, list[Template] | Builder]] = {
    "en": {
        "meeting": [
            (
                "Invitation: {project} sync @ {weekday} {time}",
                "Hi {rfirst},\n\nCould we meet on {weekday} at {time} in {room} to go over the "
                "{project} timeline? I'd like to cover:\n\n- open risks on {project}\n- "
                "staffing for {quarter}\n- the {company} contract renewal\n\nIf that slot "
                "doesn't work, grab another one on my calendar.\n\nThanks,\n{first}",
            ),
            (
                "Moved: 1:1 {first} / {rfirst}",
                "Hey {rfirst}, something came up — can we push our 1:1 to {weekday} {time}? "
                "Same video link as always.\n\n{first}",
            ),
            (
                "Agenda for {weekday}'s {team} all-hands",
                "Hi all,\n\nHere's the agenda for the {team} all-hands on {weekday} at {time}:"
                "\n\n1. Welcome and announcements (5 min)\n2. {project}: where we are, "
                "{pct_done}% done (15 min)\n3. Hiring update (10 min)\n4. Open Q&A (20 min)"
                "\n\nPlease add questions to the shared doc beforehand. Remote folks: the "
                "stream link is in the calendar invite.\n\nCheers,\n{full}",
            ),
        ],
        "invoice": [
            (
                "Invoice {invoice_no} from {company}",
                "Dear customer,\n\nPlease find attached invoice {invoice_no} for {amount}, due "
                "on {due}.\n\nItem\tQty\tPrice\n{product}\t{qty}\t{unit_price}\nShipping\t1\t"
                "{ship}\n\nPayment by bank transfer to the account shown on the invoice. "
                "Questions? Just reply to this email.\n\nBest regards,\n{company} Accounts "
                "Receivable",
            ),
            (
                "Your receipt from {company}",
                "Thanks for your purchase!\n\nReceipt for order {order_no}\n{product} x{qty}"
                "\nTotal charged: {amount}\n\nThis is a receipt, no action is needed. You can "
                "download a PDF copy from your account page at any time.",
            ),
        ],
        "shipping": [
            (
                "Your order {order_no} has shipped",
                "Good news, {rfirst}! Your {product} is on its way.\n\nCarrier: {carrier}\n"
                "Tracking number: {tracking}\nEstimated delivery: {due}\n\nYou'll get "
                "another email when it's out for delivery.",
            ),
            (
                "Out for delivery today: {product}",
                "Your {carrier} parcel {tracking} is out for delivery and should arrive "
                "today between 10:00 and 14:00. No signature required.",
            ),
        ],
        "hr": [
            (
                "Reminder: open enrollment closes {due}",
                "Hi {rfirst},\n\nA friendly reminder that benefits open enrollment closes on "
                "{due}. If you don't make any changes, your current elections roll over to "
                "next year, except the flexible spending account, which must be re-elected "
                "every year.\n\nQuestions? Reply here or book a slot with the People team."
                "\n\nPeople Operations",
            ),
            (
                "Welcome {first} to the {team} team!",
                "Hi everyone,\n\nPlease join me in welcoming {full}, who starts on the {team} "
                "team today! {first} joins us from {company} and will be based in {city}. "
                "Say hi in the usual channel 👋\n\n{rfirst}",
            ),
            (
                "Updated travel and expense policy",
                "Hi all,\n\nWe've updated the travel and expense policy; the main changes:\n"
                "\n• Economy class for flights under six hours.\n• Hotels up to the city "
                "cap listed in the appendix; {city} is now in tier B.\n• Receipts must be "
                "uploaded within 30 days — after that, claims go to manual review.\n• "
                "Per-diem meals replace itemised meal receipts for trips longer than two "
                "days.\n\nThe full document is on the intranet. Thanks for helping us keep "
                "costs predictable.\n\nFinance & People Ops",
            ),
        ],
        "code_review": [
            (
                "[{repo}] {pr_title} (#{pr})",
                "@{rfirst} requested your review on #{pr}.\n\n{pr_title}\n\nFiles changed:\n"
                "  src/{module}.py        | 42 +++++++---\n  tests/test_{module}.py | 18 "
                '++++\n\nComment on src/{module}.py line {line}:\n> if path.endswith("\\\\")'
                ":\n>     path = path[:-1]\n\nShouldn't we normalize the separators first? On "
                "Windows we get C:\\Users\\build\\work\\ and the check above misses "
                "'C:/Users/build/'.\n\n—\nReply to this email directly or view it on the "
                "web.",
            ),
            (
                "Re: [{repo}] CI failing on main",
                "The failure is in test_{module}: the fixture writes a file with a tab in "
                'its name ("a\\tb.csv") and the new runner image rejects it. I pushed a fix '
                "in #{pr}; could you take a quick look before the release cut at {time}?\n\n"
                "{first}",
            ),
        ],
        "family": [
            (
                "Sunday dinner?",
                "Hi sweetie,\n\nAre you coming on Sunday? Grandma is making lasagne 🍝 and "
                "your uncle is bringing the photos from {city}. Let me know if you're "
                "bringing anyone!\n\nLove,\nMum ❤️",
            ),
            (
                "Photos from {city}",
                "Hey!\n\nFinally sorted the photos from our trip to {city} — the shared "
                "album link is below. My favourite is the one at the market 😂\n\n"
                "Talk soon,\n{first}",
            ),
            (
                "re: birthday present for dad",
                "ok so I checked and the {product} is {small_amount}, we could split it three "
                "ways?? let me know by {weekday}\n\n{first}\n\n> On {today}, {rfirst} wrote:\n"
                "> any ideas for dad's birthday? he said he doesn't want anything (as usual)",
            ),
        ],
        "support": [
            (
                "[Ticket #{ticket}] {issue}",
                "Hello {rfirst},\n\nThanks for contacting {company} support. We've received "
                'your request about "{issue}" and a specialist will get back to you within '
                "one business day.\n\nIn the meantime, could you send us the log file from "
                "C:\\ProgramData\\{company}\\logs\\agent.log and tell us which version you "
                "run (Help → About)?\n\nKind regards,\n{full}\n{company} Support",
            ),
            (
                "Re: [Ticket #{ticket}] {issue}",
                "Hi {rfirst},\n\nGood news: our engineers confirmed the bug behind "
                "\"{issue}\" and a fix ships in tomorrow's release. You don't need to do "
                "anything; the app updates itself. I'll keep this ticket open until you "
                "confirm it works.\n\nBest,\n{full}\n\n> On {today} you wrote:\n> Since "
                "this morning the {issue}. I tried reinstalling twice, no luck.\n> Please "
                "help, this blocks our whole team.",
            ),
        ],
        # Legitimate mail that looks like phishing: the hard cases for a classifier.
        "security": [
            (
                "New sign-in to your {company} account",
                "Hi {rfirst},\n\nWe noticed a new sign-in to your {company} account from "
                "Firefox on Windows near {city} on {today} at {time}.\n\nIf this was you, "
                "there's nothing to do. If not, open the app yourself (don't use links in "
                "emails you don't trust) and change your password under Settings → Security."
                "\n\nThe {company} security team",
            ),
            (
                "Your password was changed",
                "The password for your {company} account was changed on {today}. If you "
                "did this, you can ignore this message. If you didn't, contact your IT "
                "administrator right away.",
            ),
        ],
    },
    "de": {
        "meeting": [
            (
                "Termin: {project}-Abstimmung am {weekday}",
                "Hallo {rfirst},\n\nkönnen wir uns am {weekday} um {time} Uhr in {room} zur "
                "{project}-Planung treffen? Themen:\n- offene Risiken\n- Budget {quarter}\n- "
                "Vertrag mit {company}\n\nViele Grüße\n{first}",
            ),
        ],
        "invoice": [
            (
                "Ihre Rechnung {invoice_no}",
                "Sehr geehrte Damen und Herren,\n\nanbei erhalten Sie die Rechnung "
                "{invoice_no} über {amount}, zahlbar bis zum {due}.\n\nPosition\tMenge\t"
                "Preis\n{product}\t{qty}\t{unit_price}\n\nBitte überweisen Sie den Betrag "
                "unter Angabe der Rechnungsnummer.\n\nMit freundlichen Grüßen\n{company}",
            ),
        ],
        "shipping": [
            (
                "Ihre Bestellung {order_no} wurde versandt",
                "Hallo {rfirst},\n\nIhre Bestellung ({product}) ist unterwegs! "
                "Sendungsnummer: {tracking} ({carrier}). Voraussichtliche Zustellung: {due}."
                "\n\nIhr Team von {company}",
            ),
        ],
        "hr": [
            (
                "Erinnerung: Urlaubsanträge bis {due}",
                "Liebe Kolleginnen und Kollegen,\n\nbitte reicht eure Urlaubsanträge für "
                "Dezember bis spätestens {due} im Portal ein. Resturlaub aus diesem Jahr "
                "verfällt am 31. März.\n\nDanke und viele Grüße\nPersonalabteilung",
            ),
        ],
        "family": [
            (
                "Weihnachten bei Oma?",
                "Hallo ihr Lieben,\n\nOma fragt, ob wir dieses Jahr wieder alle zu ihr nach "
                "{city} kommen. Ich bringe den Kartoffelsalat mit 🎄 Wer kümmert sich um "
                "die Getränke?\n\nLiebe Grüße\n{first}",
            ),
        ],
        "support": [
            (
                "Ihre Anfrage [#{ticket}]",
                "Guten Tag {rfirst},\n\nvielen Dank für Ihre Nachricht. Wir haben Ihr "
                "Anliegen („{issue}“) an die Technik weitergeleitet und melden uns "
                "innerhalb von 24 Stunden.\n\nFreundliche Grüße\n{full}\n{company} Kundenservice",
            ),
        ],
    },
    "fr": {
        "meeting": [
            (
                "Réunion {project} — {weekday} {time}",
                "Bonjour {rfirst},\n\nPeux-tu te libérer {weekday} à {time} pour faire le "
                "point sur {project} ? On sera en salle {room}.\n\nMerci,\n{first}",
            ),
        ],
        "invoice": [
            (
                "Votre facture {invoice_no}",
                "Madame, Monsieur,\n\nVeuillez trouver ci-joint la facture {invoice_no} d'un "
                "montant de {amount}, à régler avant le {due}.\n\nCordialement,\n"
                "Service comptabilité — {company}",
            ),
        ],
        "shipping": [
            (
                "Votre colis est en route",
                "Bonjour {rfirst},\n\nVotre commande {order_no} ({product}) a été remise à "
                "{carrier}. Numéro de suivi : {tracking}. Livraison prévue le {due}.\n\n"
                "L'équipe {company}",
            ),
        ],
        "family": [
            (
                "Dimanche chez mamie",
                "Coucou !\n\nOn se retrouve dimanche chez mamie vers midi ? Papa a dit « pas "
                "de retard cette fois » 😅 J'apporte le dessert.\n\nBisous,\n{first}",
            ),
        ],
        "support": [
            (
                "[Demande #{ticket}] {issue}",
                "Bonjour {rfirst},\n\nNous avons bien reçu votre demande concernant "
                "« {issue} ». Un technicien vous répondra sous 48 heures.\n\nCordialement,\n"
                "{full}, support {company}",
            ),
        ],
    },
    "es": {
        "meeting": [
            (
                "Reunión de {project} el {weekday}",
                "Hola {rfirst}:\n\n¿Te viene bien el {weekday} a las {time} en {room} para "
                "revisar {project}? Si no, propón otra hora.\n\nUn saludo,\n{first}",
            ),
        ],
        "invoice": [
            (
                "Factura {invoice_no} de {company}",
                "Estimado cliente:\n\nAdjuntamos la factura {invoice_no} por un importe de "
                "{amount}, con vencimiento el {due}.\n\nConcepto\tCant.\tPrecio\n{product}\t"
                "{qty}\t{unit_price}\n\nAtentamente,\n{company}",
            ),
        ],
        "shipping": [
            (
                "Tu pedido {order_no} ya está en camino",
                "¡Hola {rfirst}! Tu {product} ha salido de nuestro almacén. Número de "
                "seguimiento {tracking} ({carrier}). Entrega estimada: {due}.",
            ),
        ],
        "family": [
            (
                "¿Cena el sábado?",
                "¡Hola, hermano! ¿Venís el sábado a cenar? Mamá quiere hacer paella 🥘 y "
                "preguntó por los niños.\n\nUn abrazo,\n{first}",
            ),
        ],
        "hr": [
            (
                "Nuevo horario de invierno",
                "Hola a todos:\n\nA partir del {due} la oficina abrirá de 8:30 a 17:30. El "
                "teletrabajo de los viernes se mantiene.\n\nRecursos Humanos",
            ),
        ],
    },
    "pt": {
        "meeting": [
            (
                "Reunião sobre {project} na {weekday}",
                "Olá {rfirst},\n\nPodemos reunir na {weekday} às {time} para alinhar o "
                "{project}? Envio o convite em seguida.\n\nAbraço,\n{first}",
            ),
        ],
        "invoice": [
            (
                "Fatura {invoice_no} — {company}",
                "Caro cliente,\n\nSegue em anexo a fatura {invoice_no} no valor de {amount}, "
                "com vencimento em {due}.\n\nCumprimentos,\n{company}",
            ),
        ],
        "shipping": [
            (
                "A sua encomenda {order_no} foi enviada",
                "Olá {rfirst}, a sua encomenda ({product}) foi entregue à transportadora "
                "{carrier}. Código de rastreio: {tracking}. Entrega prevista: {due}.",
            ),
        ],
        "family": [
            (
                "Almoço de domingo",
                "Oi, filha! Vens almoçar no domingo? A avó fez bacalhau à Brás 😋 Traz o "
                "carregador que deixaste cá.\n\nBeijinhos,\nMãe",
            ),
        ],
        "support": [
            (
                "Pedido de suporte #{ticket}",
                'Olá {rfirst},\n\nRecebemos o seu pedido sobre "{issue}". A nossa equipa '
                "vai analisar e responder em breve.\n\nAtenciosamente,\n{full}",
            ),
        ],
    },
    "it": {
        "meeting": [
            (
                "Riunione {project} — {weekday} ore {time}",
                "Ciao {rfirst},\n\nci vediamo {weekday} alle {time} in {room} per fare il "
                "punto su {project}? Porto io i numeri aggiornati.\n\nA presto,\n{first}",
            ),
        ],
        "invoice": [
            (
                "Fattura n. {invoice_no}",
                "Gentile cliente,\n\nin allegato la fattura {invoice_no} di {amount} con "
                "scadenza {due}.\n\nCordiali saluti,\n{company}",
            ),
        ],
        "shipping": [
            (
                "Il tuo ordine {order_no} è stato spedito",
                "Ciao {rfirst}, il tuo {product} è in viaggio con {carrier}. Codice di "
                "tracciamento: {tracking}. Consegna prevista: {due}.",
            ),
        ],
        "family": [
            (
                "Pranzo dalla nonna",
                'Ciao! Domenica pranzo dalla nonna, lei dice "niente scuse" 😄 Porti tu '
                "il vino?\n\n{first}",
            ),
        ],
        "hr": [
            (
                "Promemoria: buoni pasto",
                "Buongiorno a tutti,\n\nvi ricordiamo di caricare le note spese entro il "
                "{due}. Dal mese prossimo i buoni pasto saranno solo elettronici.\n\n"
                "Ufficio del personale",
            ),
        ],
    },
    "ja": {
        "meeting": [
            (
                "【会議のご案内】{project} 定例",
                "{rfirst}さん\n\nお疲れさまです。{weekday} {time}から{project}の定例会議を"
                "行います。資料は前日までに共有します。\n\nよろしくお願いいたします。\n{full}",
            ),
        ],
        "shipping": [
            (
                "ご注文の商品を発送しました（{order_no}）",
                "{full}様\n\nご注文いただいた{product}を発送いたしました。\nお問い合わせ番号："
                "{tracking}\nお届け予定日：{due}\n\n{company}",
            ),
        ],
    },
    "zh": {
        "meeting": [
            (
                "会议通知：{project} 周会",
                "{rfirst}，你好：\n\n{weekday} {time} 召开{project}项目周会，请准时参加。"
                "\n\n谢谢！\n{full}",
            ),
        ],
        "invoice": [
            (
                "发票 {invoice_no}",
                "尊敬的客户：\n\n附件是发票 {invoice_no}，金额 {amount}，请于{due}前付款。\n\n"
                "{company} 财务部",
            ),
        ],
    },
}

SPAM: dict[str, dict[str, list[Template] | Builder]] = {
    "en": {
        "lottery": [
            (
                "CONGRATULATIONS!!! You have WON {big_amount}",
                "Dear Lucky Winner,\n\nYour email address was selected in the INTERNATIONAL "
                "E-MAIL LOTTERY held on {today}. You have won {big_amount}!!!\n\nTo claim "
                "your prize, send your full name, address, phone number and a copy of your "
                "passport to our claims agent at claims@{bad_domain}. A small processing fee "
                "of {small_amount} applies.\n\nReference: WIN/{ticket}/{token}\n\nDO NOT "
                "REPLY TO THIS MAIL",
            ),
            (
                "You're our 1,000,000th visitor 🎁",
                "🎉🎉 You have been chosen to receive a brand-new iPhone! Only 3 left. "
                "Click here within 10 minutes to claim: http://{bad_domain}/gift?u={token}",
            ),
        ],
        "crypto": [
            (
                "Turn {small_amount} into {big_amount} with {coin} 🚀",
                "Hi friend,\n\nMy trading bot made {mult}x last month on {coin}. No "
                "experience needed, guaranteed returns, withdraw any time!!! Spots are "
                "limited to the first 50 people.\n\n👉 Start now: https://{bad_domain}/"
                "start?ref={token}\n\nTo your financial freedom,\nAlex",
            ),
            (
                "{coin} airdrop: claim your free tokens",
                "Your wallet is eligible for the {coin} airdrop. Connect your wallet and "
                "enter your seed phrase to receive your tokens before they expire: "
                "https://{bad_domain}/claim",
            ),
        ],
        "pharma": [
            (
                "V\u200bi\u200ba\u200bg\u200br\u200ba {percent}% OFF",
                "Cheap m3ds without prescription!!! V\u200bi\u200ba\u200bg\u200br\u200ba, "
                "C\u200bi\u200ba\u200bl\u200bi\u200bs and more at {percent}% off. Discreet "
                "shipping worldwide.\n\nOrder now: http://rx-discount.{bad_domain}/",
            ),
            (
                "Lose 10 kg in 7 days — doctors hate this",
                "This one weird pill melts fat while you sleep. No diet, no gym. Order "
                "today and get a second bottle FREE: http://{bad_domain}/slim",
            ),
        ],
        "phishing": [
            (
                "Your {bank} account has been suspended",
                "Dear Customer,\n\nWe detected unusual activity on your {bank} account and "
                "have temporarily suspended it. To restore access, verify your identity "
                "within 24 hours:\n\nhttp://{bad_domain}/verify?id={token}\n\nFailure to "
                "do so will result in permanent closure.\n\n{bank} Security Team",
            ),
            (
                "Mailbox storage full — action required",
                "Your mailbox has exceeded its storage limit (99.8%). Incoming messages "
                "will be rejected. Re-validate your account now to get 50 GB free:\n"
                "http://{bad_domain}/webmail/login?user={token}\n\nIT Helpdesk",
            ),
            (
                '{full} shared "{quarter} salary review.xlsx" with you',
                "{full} ({local}@{company_slug}.com) has shared a spreadsheet with "
                "you.\n\n📄 {quarter} salary review.xlsx\n\nOpen: https://docs-share."
                "{bad_domain}/d/{token}\n\nThis link expires in 24 hours. Sign in with your "
                "work email and password to view.",
            ),
            (
                "Password expires today",
                "Your password expires today at 23:59. Keep your current password by "
                "confirming it here: https://{bad_domain}/keep-password\n\nAdministrator",
            ),
        ],
        "fake_invoice": [
            (
                "Invoice {invoice_no} OVERDUE — final notice",
                "Hello,\n\nOur records show that invoice {invoice_no} for {amount} is "
                "overdue. Please open the attached INVOICE_{invoice_no}.zip and pay "
                "immediately to avoid legal action and collection fees.\n\nRegards,\n"
                "Accounts Department",
            ),
            (
                "Your {bank} payment of {amount} to {company}",
                "You sent a payment of {amount} to {company}. If you did not authorise "
                "this transaction, cancel it here within 24 hours: http://{bad_domain}/"
                "cancel?tx={token}\n\nThis is an automated message.",
            ),
        ],
    },
    "de": {
        "lottery": [
            (
                "Glückwunsch! Sie haben {big_amount} gewonnen",
                "Sehr geehrter Gewinner,\n\nIhre E-Mail-Adresse wurde bei unserer "
                "internationalen Verlosung gezogen. Um Ihren Gewinn von {big_amount} zu "
                "erhalten, senden Sie uns Ihre Bankdaten und eine Bearbeitungsgebühr von "
                "{small_amount}.\n\nGewinnnummer: {ticket}",
            ),
        ],
        "phishing": [
            (
                "Ihr Konto wurde gesperrt",
                "Sehr geehrter Kunde,\n\naus Sicherheitsgründen wurde Ihr {bank}-Konto "
                "vorübergehend gesperrt. Bitte bestätigen Sie Ihre Daten innerhalb von 24 "
                "Stunden: http://{bad_domain}/login\n\nIhr Sicherheitsteam",
            ),
        ],
        "crypto": [
            (
                "Passives Einkommen mit {coin} 💰",
                "Verdienen Sie bis zu {big_amount} im Monat mit unserem {coin}-Trading-Bot! "
                "Garantierte Gewinne, kein Risiko. Jetzt anmelden: https://{bad_domain}",
            ),
        ],
        "pharma": [
            (
                "Potenzmittel ohne Rezept — {percent}% Rabatt",
                "Diskreter Versand, keine Rezeptpflicht, {percent}% Rabatt nur heute! "
                "http://{bad_domain}/apotheke",
            ),
        ],
    },
    "fr": {
        "lottery": [
            (
                "Félicitations, vous avez gagné !",
                "Cher(e) gagnant(e),\n\nVotre adresse a été tirée au sort ! Vous avez gagné "
                "{big_amount}. Pour recevoir vos gains, réglez les frais de dossier de "
                "{small_amount} ici : http://{bad_domain}/gain",
            ),
        ],
        "phishing": [
            (
                "Votre compte a été suspendu",
                "Cher client,\n\nNous avons détecté une activité inhabituelle. Veuillez "
                "confirmer vos informations sous 24 h : http://{bad_domain}/confirmer\n\n"
                "Service sécurité {bank}",
            ),
        ],
        "prince": [
            (
                "Proposition d'héritage confidentielle",
                "Bonjour,\n\nJe suis l'avocat de feu M. {last}, décédé sans héritier. Je "
                "vous propose de partager la somme de {big_amount} bloquée sur un compte. "
                "Votre discrétion est indispensable. Répondez-moi avec vos coordonnées "
                "bancaires.\n\nMe {prince}",
            ),
        ],
        "crypto": [
            (
                "Doublez votre épargne avec {coin}",
                "Investissez {small_amount} aujourd'hui et recevez {big_amount} dans 30 "
                "jours ! Offre limitée 🚀 https://{bad_domain}",
            ),
        ],
    },
    "es": {
        "lottery": [
            (
                "¡Enhorabuena! Ha ganado {big_amount}",
                "Estimado ganador:\n\nSu correo ha sido seleccionado en nuestro sorteo "
                "internacional. Para cobrar el premio de {big_amount}, envíe sus datos "
                "bancarios y abone {small_amount} de gastos de gestión.",
            ),
        ],
        "phishing": [
            (
                "Aviso: su cuenta será bloqueada",
                "Estimado cliente, su cuenta de {bank} será bloqueada hoy. Verifique sus "
                "datos aquí: http://{bad_domain}/verificar",
            ),
        ],
        "crypto": [
            (
                "Gana dinero desde casa con {coin}",
                "¡Multiplica tu inversión x{mult} en una semana! Sin experiencia. Plazas "
                "limitadas 👉 https://{bad_domain}/ref/{token}",
            ),
        ],
    },
    "pt": {
        "lottery": [
            (
                "Parabéns! Você ganhou {big_amount}",
                "Prezado(a),\n\nO seu e-mail foi sorteado! Para receber {big_amount}, pague "
                "a taxa de liberação de {small_amount} através do link: "
                "http://{bad_domain}/premio",
            ),
        ],
        "phishing": [
            (
                "Seu cartão foi bloqueado",
                "Detectamos uma compra suspeita de {amount}. Para desbloquear o seu cartão, "
                "confirme os seus dados: http://{bad_domain}/desbloqueio",
            ),
        ],
        "pharma": [
            (
                "Emagreça 10 kg em 7 dias",
                "Cápsulas naturais, resultado garantido! {percent}% de desconto só hoje: "
                "http://{bad_domain}",
            ),
        ],
    },
    "it": {
        "lottery": [
            (
                "Hai vinto un buono da {small_amount}!",
                "Complimenti! Sei stato selezionato per un buono regalo. Inserisci i dati "
                "della tua carta per le spese di spedizione: http://{bad_domain}/buono",
            ),
        ],
        "phishing": [
            (
                "Il tuo account è stato limitato",
                "Gentile cliente, il tuo account {bank} è stato limitato per motivi di "
                "sicurezza. Accedi entro 24 ore per evitarne la chiusura: "
                "http://{bad_domain}/accesso",
            ),
        ],
        "fake_invoice": [
            (
                "Fattura {invoice_no} non pagata",
                "Buongiorno, la fattura {invoice_no} di {amount} risulta insoluta. Apra "
                "l'allegato FATTURA_{invoice_no}.zip per i dettagli del pagamento.",
            ),
        ],
    },
    "ja": {
        "lottery": [
            (
                "【当選のお知らせ】{big_amount}が当たりました",
                "おめでとうございます！抽選の結果、あなたが当選しました。受け取り手続きは"
                "こちら：http://{bad_domain}/prize\n手数料{small_amount}が必要です。",
            ),
        ],
        "phishing": [
            (
                "【重要】アカウントの確認",
                "お客様のアカウントで不審なログインを検出しました。24時間以内に確認してください："
                "http://{bad_domain}/verify",
            ),
        ],
    },
    "zh": {
        "crypto": [
            (
                "稳赚不赔！{coin}投资机会",
                "只需投资{small_amount}，30天回报{big_amount}！名额有限，立即加入："
                "https://{bad_domain}",
            ),
        ],
        "lottery": [
            (
                "恭喜您中奖了",
                "尊敬的用户：恭喜您获得{big_amount}大奖！请点击链接领取："
                "http://{bad_domain}/lingqu",
            ),
        ],
    },
}

DISCLAIMER = (
    "\n\n--\nCONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and "
    "may be legally privileged. If you are not the intended recipient, please notify the "
    "sender immediately by replying to this message and delete it from your system; you "
    "must not copy, distribute or take any action in reliance on it. E-mail transmission "
    "cannot be guaranteed to be secure or error-free, as information could be "
    "intercepted, corrupted, lost, destroyed, arrive late or incomplete, or contain "
    "viruses. The sender therefore does not accept liability for any errors or omissions "
    "in the contents of this message which arise as a result of e-mail transmission. "
    "{company} is registered in England and Wales under number 0{ticket}. Please consider "
    "the environment before printing this e-mail."
)


def newsletter_body(rng: random.Random, ctx: dict[str, str], lang: str) -> Template:
    """A long, multi-section newsletter (already formatted): legit mail that looks spammy."""
    sections = rng.sample(NEWSLETTER_TOPICS, rng.randint(3, 8))
    if lang == "fr":
        subject = f"La lettre {ctx['company']} — {ctx['today']}"
        intro = "Bonjour {rfirst},\n\nVoici les nouvelles du mois (en anglais, désolés !).\n"
        outro = "\n\nVous recevez ce message car vous êtes abonné(e). Se désabonner : "
    else:
        subject = f"{ctx['company']} Weekly: {sections[0][0]}, {sections[1][0]} and more"
        intro = "Hi {rfirst},\n\nHere's what happened this week.\n"
        outro = "\n\nYou are receiving this because you subscribed on our website. "
    parts = [intro.format(**ctx)]
    for title, text in sections:
        parts.append(f"\n## {title}\n\n{text}\n")
    parts.append(f"{outro}Unsubscribe: https://news.{slug(ctx['company'])}.com/u/{ctx['token']}")
    return subject, "".join(parts)


def prince_body(rng: random.Random, ctx: dict[str, str], lang: str) -> Template:
    """The classic advance-fee story (already formatted), long, sometimes all caps."""
    paragraphs = [
        "I am {prince}, the son of the late King of a West African nation. I got your "
        "contact through a trusted business directory and I decided to write you in "
        "confidence because of the urgency of this matter.",
        "Before the death of my father, he deposited the sum of {big_amount} (TWENTY-FOUR "
        "MILLION FIVE HUNDRED THOUSAND US DOLLARS) with a security company in Europe, "
        "declared as family valuables. Due to the political situation, I cannot claim "
        "the funds myself.",
        "I am seeking a reliable foreign partner who will receive this money on our "
        "behalf. For your assistance you will get 30% of the total sum, 10% is set aside "
        "for expenses, and the rest will be invested in your country under your "
        "supervision.",
        "This transaction is 100% risk free. All I need is your full name, your private "
        "telephone number, your bank name and account number, and a copy of your "
        "international passport so the security company can release the consignment.",
        "Please treat this matter with the utmost secrecy. Do not discuss it with "
        "anybody, as my life and that of my mother depend on it. I will send the "
        "certificate of deposit as soon as I hear from you.",
        "Note that a small clearance fee of {small_amount} is required by the diplomatic "
        "courier; this will be refunded in full once the funds reach your account.",
        "May God bless you as you help us. I await your urgent reply on my private "
        "email, as the funds must be moved before the end of the month.",
    ]
    n = rng.randint(4, len(paragraphs))
    body = "Dear Friend,\n\n" + "\n\n".join(paragraphs[:n]) + "\n\nYours faithfully,\n{prince}"
    subject = rng.choice(
        [
            "URGENT BUSINESS PROPOSAL",
            "STRICTLY CONFIDENTIAL",
            "Assistance needed — {prince}",
            "REPLY URGENTLY!!!",
        ]
    )
    subject, body = subject.format(**ctx), body.format(**ctx)
    if rng.random() < 0.3:
        body = body.upper()  # after formatting: upper-casing would break the {slots}
    return subject, body


THREAD_MESSAGES = [
    "Thanks, that works for me. I've asked {company} to send the revised quote by {due}, "
    "and I'll forward it as soon as it lands.",
    "Before we sign off, can someone double-check the numbers in tab 3? The total there "
    "is {amount}, but the summary slide says something different.",
    "Looping in {rfirst} from {team}, who owns the budget line for {project} this "
    "quarter. {rfirst}, the short version is below.",
    "I spoke to legal this morning. They're fine with the contract as long as we keep "
    "the termination clause at 30 days and add the data-processing annex.",
    "Quick update: the vendor agreed to split the delivery into two batches, so the "
    "first half arrives on {weekday} and the rest a week later.",
    "Sorry for the slow reply, I was out sick. Happy to go with option B; it's cheaper "
    "over three years even if the first year costs a bit more.",
    "Can we please keep this thread to decisions only? Detailed discussion is in the "
    "{project} doc, comments there are easier to track.",
    "Agreed with everything above. One small thing: the invoice must reference PO "
    "number {order_no}, otherwise accounts payable will bounce it.",
]


def thread_body(rng: random.Random, ctx: dict[str, str], lang: str) -> Template:
    """A reply chain quoting every earlier message, the way long business threads grow."""
    firsts = NAMES[lang][0]
    depth = rng.randint(2, 6)
    messages = [rng.choice(THREAD_MESSAGES).format(**ctx) for _ in range(depth + 1)]
    body = f"{messages[0]}\n\n{ctx['first']}"
    for level, text in enumerate(messages[1:], start=1):
        author = rng.choice(firsts)
        quoted = "\n".join(
            (">" * level + " " + line).rstrip() for line in f"{text}\n\n{author}".split("\n")
        )
        body += f"\n\n{'>' * (level - 1)}{' ' if level > 1 else ''}On {ctx['today']}, "
        body += f"{author} wrote:\n{quoted}"
    subject = "Re: " * depth + f"{ctx['project']} budget sign-off"
    return subject, body


LOG_EVENTS = [
    ("INFO", "sync-worker-{n}", "uploaded chunk {n}/{m} of report_{token}.xlsx"),
    ("WARN", "sync-worker-{n}", "retrying after HTTP 503 (attempt {n})"),
    (
        "ERROR",
        "sync-worker-{n}",
        "C:\\Users\\{first}\\AppData\\Local\\{company_slug}\\cache\\blob_{n}.tmp: "
        "access denied (0x80070005)",
    ),
    ("DEBUG", "net", 'GET /api/v2/files?cursor="{token}" -> 200 in {m} ms'),
    (
        "ERROR",
        "db",
        "database is locked\n\tat Store.write (store.js:{m})\n\tat Queue.flush (queue.js:{n})",
    ),
    ("INFO", "updater", "current version 4.{n}.{m}, no update available"),
]


def log_ticket_body(rng: random.Random, ctx: dict[str, str], lang: str) -> Template:
    """A customer pasting a long log into a support ticket: long, tabs and backslashes."""
    lines = []
    seconds = rng.randint(8 * 3600, 10 * 3600)
    for _ in range(rng.randint(15, 60)):
        seconds += rng.randint(0, 90)
        level, source, message = rng.choice(LOG_EVENTS)
        slots = {**ctx, "n": rng.randint(1, 9), "m": rng.randint(10, 999)}
        stamp = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        lines.append(
            f"{ctx['today']} {stamp}\t{level}\t[{source.format(**slots)}] {message.format(**slots)}"
        )
    body = (
        'Hi,\n\nthe sync agent keeps failing since this morning, mostly "access denied" '
        'and "database is locked". Here is the log, I hope it helps:\n\n'
        + "\n".join(lines)
        + f"\n\nThanks,\n{ctx['full']}"
    )
    return f"Sync errors on {ctx['company']} agent — log attached", body


# Kinds built by a function instead of picked from a list of templates.
HAM["en"]["newsletter"] = newsletter_body
HAM["en"]["thread"] = thread_body
HAM["en"]["support_log"] = log_ticket_body
HAM["fr"]["newsletter"] = newsletter_body
SPAM["en"]["prince"] = prince_body


# --------------------------------------------------------------------------------------
# Odd characters: realistic ways real mail carries surprising text.
# --------------------------------------------------------------------------------------


def _zwsp_word(rng: random.Random, body: str) -> str:
    words = [w for w in body.split(" ") if len(w) > 5 and w.isalpha()]
    if not words:
        return "\u200b" + body
    word = rng.choice(words)
    return body.replace(word, "\u200b".join(word), 1)


OddEdit = Callable[[random.Random, str], str]

ODD_EDITS: list[OddEdit] = [
    lambda rng, b: b + "\n\n" + rng.choice(["🎉🎉🎉", "👍🏽", "🚚📦✅", "👨‍👩‍👧‍👦 ❤️", "🙏🏻😊"]),
    lambda rng, b: b + "\n\nمع أطيب التحيات،\nفريق الدعم",
    lambda rng, b: b + "\n\nבברכה,\nצוות התמיכה (Support team)",
    _zwsp_word,
    lambda rng, b: "\ufeff" + b,  # byte-order mark pasted from a Windows editor
    lambda rng, b: b.replace('"', "“", 1).replace('"', "”", 1) + "\n\n‘Sent from my phone’",
    lambda rng, b: b + "\n\nAttachment saved to \\\\fileserver\\share\\inbox\\2026\\",
    lambda rng, b: b + "\n\nName\tRole\tEmail\nRoot\tadmin\troot@localhost",
    lambda rng, b: b.replace("\n", "\r\n"),  # CRLF line endings, as from some clients
    lambda rng, b: b + "\n\n—\n山田 太郎 / Taro Yamada\n東京都千代田区丸の内1-1-1",
    lambda rng, b: b + "\n\n“Quote” «citation» „Zitat“ 'single' \"double\" `back`",
    lambda rng, b: b + "\n\nCafe\u0301 cre\u0300me bru\u0302le\u0301e — naïve façade",
]


def sender_for(rng: random.Random, ctx: dict[str, str], lang: str, spam: bool) -> str:
    """A plausible From: header; spam senders get throwaway domains and display names."""
    if spam:
        local = rng.choice(
            [
                "info",
                "claims",
                "support",
                "security",
                "no-reply",
                "winner",
                "billing",
                slug(ctx["first"]) or "admin",
            ]
        )
        display = rng.choice(
            ["", f"{ctx['bank']} ", "Customer Service ", "Dr. Smith ", "Lottery Board "]
        )
        return f"{display}<{local}{rng.randint(1, 999)}@{ctx['bad_domain']}>".lstrip()
    if lang in ROMAJI:
        local = rng.choice(ROMAJI[lang])
    else:
        local = f"{slug(ctx['first'])}.{slug(ctx['last'])}"
    if lang in CJK_DOMAINS:
        domain = CJK_DOMAINS[lang][COMPANIES[lang].index(ctx["company"])]
    else:
        domain = slug(ctx["company"].split(" ")[0]) + rng.choice(TLDS[lang])
    if rng.random() < 0.25:
        return f"noreply@{domain}"
    return f"{ctx['full']} <{local}@{domain}>"


def make_email(
    rng: random.Random, day: dt.date, index: int, spam: bool, odd_edits: Iterator[OddEdit]
) -> dict[str, str]:
    """One email row; every random choice comes from ``rng`` in a fixed order."""
    lang = rng.choices([lang for lang, _ in LANGUAGES], [w for _, w in LANGUAGES])[0]
    ctx = context(rng, lang, day)
    pool = (SPAM if spam else HAM)[lang]
    kind = rng.choice(sorted(pool))
    entry = pool[kind]
    if callable(entry):
        subject, body = entry(rng, ctx, lang)
    else:
        subject, body = rng.choice(entry)
        # Corporate footers are what makes many real business mails long.
        corporate = not spam and lang == "en" and kind in ("meeting", "hr", "support", "invoice")
        if corporate and rng.random() < 0.25:
            body += DISCLAIMER
        subject, body = subject.format(**ctx), body.format(**ctx)
    if rng.random() < ODD_SHARE:
        body = next(odd_edits)(rng, body)
    return {
        "email_id": f"em-{day:%Y%m%d}-{index:04d}",
        "date": day.isoformat(),
        "sender": sender_for(rng, ctx, lang, spam),
        "subject": subject,
        "body": body,
        "language": lang,
        "label": "spam" if spam else "not_spam",
    }


def generate_day(seed: int, day_index: int) -> list[dict[str, str]]:
    """All emails of one day; each day has its own RNG so days are independent."""
    rng = random.Random(seed * 100 + day_index)
    day = FIRST_DAY + dt.timedelta(days=day_index)
    count = rng.randint(MIN_PER_DAY, MAX_PER_DAY)
    # An exact number of spam emails per day, shuffled into place, keeps every day's share
    # inside SPAM_SHARE (independent coin flips drift out of it on small days).
    n_spam = round(count * rng.uniform(*SPAM_SHARE))
    flags = [True] * n_spam + [False] * (count - n_spam)
    rng.shuffle(flags)
    # Odd edits are taken in turn (starting at a different one each day) rather than drawn,
    # so every kind appears in the dataset for sure.
    start = day_index % len(ODD_EDITS)
    odd_edits = itertools.cycle(ODD_EDITS[start:] + ODD_EDITS[:start])
    return [make_email(rng, day, i + 1, spam, odd_edits) for i, spam in enumerate(flags)]


def write(out: Path, seed: int) -> list[Path]:
    """Write every day's file under ``out`` and return the paths written."""
    paths = []
    for day_index in range(DAYS):
        rows = generate_day(seed, day_index)
        folder = out / f"date={rows[0]['date']}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "emails.jsonl"
        # newline="\n" so the bytes do not depend on the platform the script runs on.
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: data/emails next to this script)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    args = parser.parse_args(argv)
    for path in write(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
