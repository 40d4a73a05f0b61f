"""Plausible text for synthetic answers: words, sentences, names, emails, dates, codes.

Strings are picked, not composed word by word: a fixed pool of a few thousand sentences is
built once per process (from a fixed seed, so every process has the same pool), and a
string costs one random draw.
"""

import random
import re
import uuid
from collections.abc import Callable
from functools import cache

Maker = Callable[[random.Random], str]

_WORD_TEXT = (
    "account access action address agent alert amount answer api app approval archive audit "
    "balance batch billing board booking branch budget bug build calendar campaign card case "
    "change channel charge check claim client cloud code comment contract cost credit "
    "customer dashboard data deadline delivery demo deploy design detail device discount "
    "document domain draft email error estimate event export feature feedback fee file form "
    "invoice issue item job key label launch lead license limit list login meeting message "
    "metric migration model module network note notice offer order owner package page partner "
    "password payment plan policy portal price priority process product project proposal "
    "quarter query quote receipt record refund release renewal report request review risk "
    "role schedule security server service session setting shipment signup status storage "
    "subscription summary support survey task team ticket timeline token trial update upgrade "
    "usage user vendor version warranty workflow "
)
WORDS = tuple(_WORD_TEXT.split())
FIRST = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn"]
LAST = ["Smith", "Garcia", "Chen", "Patel", "Müller", "Rossi", "Kim", "Novak", "Silva", "Dubois"]

_POOL_SIZE = 4096


@cache
def _pool() -> tuple[str, ...]:
    # Built on first use, from a fixed seed: the same pool in every process, no import cost.
    maker = random.Random(20240517)
    return tuple(sentence(maker, 3, 14) for _ in range(_POOL_SIZE))


def pooled(rng: random.Random) -> str:
    """One of a few thousand fixed sentences: one draw instead of one per word."""
    return _pool()[int(rng.random() * _POOL_SIZE)]


def sentence(rng: random.Random, low: int, high: int) -> str:
    """A sentence of ``low`` to ``high`` words from :data:`WORDS`."""
    count = low + int(rng.random() * (high - low + 1))
    words = [WORDS[int(rng.random() * len(WORDS))] for _ in range(count)]
    return " ".join(words).capitalize() + "."


def string_maker(name: str, fmt: object, pattern: object) -> Maker:
    """The maker of strings for a field ``name`` with a JSON-schema ``format`` and ``pattern``."""
    lowered = name.lower()
    make: Maker
    if isinstance(fmt, str) and fmt in _FORMATS:
        make = _FORMATS[fmt]
    elif "email" in lowered:
        make = _email
    elif lowered.endswith(("url", "uri", "link")):
        make = _url
    elif "name" in lowered:
        make = _person
    elif lowered in ("id", "code", "key", "sku") or lowered.endswith("_id"):
        make = _code
    else:
        make = pooled
    if isinstance(pattern, str):
        make = _patterned(pattern, make)
    return make


def _patterned(pattern: str, fallback: Maker) -> Maker:
    """Strings for a ``pattern``: the first candidates that match, else the fallback.

    A general regex inverter is out of scope; this covers the common simple patterns
    (codes, digits, words) and keeps answers deterministic.
    """
    try:
        regex = re.compile(pattern)
    except re.error:
        return fallback
    candidates = [
        *WORDS[:20],
        *(w.upper() for w in WORDS[:20]),
        "12345",
        "2024-05-17",
        "AB-12345",
        "A1",
        "a",
        "0",
        "user@example.com",
        "https://example.com",
    ]
    matching = tuple(c for c in candidates if regex.search(c))
    if not matching:
        return fallback
    count = len(matching)
    return lambda rng: matching[int(rng.random() * count)]


def _date(rng: random.Random) -> str:
    return _date_time(rng)[:10]


def _time(rng: random.Random) -> str:
    return _date_time(rng)[11:19]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _url(rng: random.Random) -> str:
    return f"https://example.com/{WORDS[int(rng.random() * len(WORDS))]}"


# Names, addresses and code prefixes made once: a string costs the same draws, no formatting.
_PEOPLE = tuple(tuple(f"{first} {last}" for last in LAST) for first in FIRST)
_EMAILS = tuple(
    tuple(f"{first.lower()}.{last.lower().replace('ü', 'u')}@example.com" for last in LAST)
    for first in FIRST
)
_CODE_PREFIXES = tuple(word[:3].upper() for word in WORDS)


def _person(rng: random.Random) -> str:
    return _PEOPLE[int(rng.random() * 10)][int(rng.random() * 10)]


def _code(rng: random.Random) -> str:
    prefix = _CODE_PREFIXES[int(rng.random() * len(WORDS))]
    return f"{prefix}-{int(rng.random() * 90000) + 10000}"


def _date_time(rng: random.Random) -> str:
    day = int(rng.random() * 28) + 1
    month = int(rng.random() * 12) + 1
    hour, minute = int(rng.random() * 24), int(rng.random() * 60)
    return f"2024-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def _email(rng: random.Random) -> str:
    return _EMAILS[int(rng.random() * 10)][int(rng.random() * 10)]


_FORMATS: dict[str, Maker] = {
    "date-time": _date_time,
    "date": _date,
    "time": _time,
    "uuid": _uuid,
    "email": _email,
    "uri": _url,
    "url": _url,
}


# --------------------------------------------------------------------------------------
# Prose: email-like bodies and subject lines in a few languages, for generation tasks.
# A body is a greeting, three to seven sentences drawn from frames × things (so two bodies
# rarely share more than a sentence), and a sign-off; its length varies with the count.
# --------------------------------------------------------------------------------------

_PROSE: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "greet": ("Hello {first},", "Dear {first},", "Hi {first},", "Good morning {first},"),
        "frames": (
            "I am writing to you about the {thing} we discussed last week.",
            "Could you please check the {thing} and let me know if it is correct?",
            "The {thing} for your team is ready, and we will send it on {day}.",
            "We have noticed a problem with the {thing} and we are looking into it.",
            "Please confirm that the {thing} can be moved to {day}.",
            "Our records show that the {thing} is still open on your account.",
            "You can find the {thing} in the attachment of this email.",
            "If you have any questions about the {thing}, just reply to this message.",
            "We are happy to tell you that the {thing} has been approved.",
            "The price of the {thing} is {amount}, as agreed with your office.",
            "It would help us a lot if you could sign the {thing} before {day}.",
            "Your {thing} will expire soon, so please take a look at it this week.",
        ),
        "things": (
            "invoice",
            "contract",
            "delivery",
            "meeting",
            "order",
            "report",
            "password",
            "payment",
            "quote",
            "shipment",
            "renewal",
            "survey",
            "budget",
            "prize",
        ),
        "days": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next week"),
        "close": ("Best regards,", "Kind regards,", "Thanks and regards,", "Many thanks,"),
        "subject": (
            "About the {thing}",
            "Your {thing}",
            "Question on the {thing}",
            "Update: {thing} on {day}",
            "Reminder about the {thing}",
        ),
    },
    "de": {
        "greet": (
            "Hallo {first},",
            "Liebe {first},",
            "Guten Tag {first},",
            "Sehr geehrte Damen und Herren,",
        ),
        "frames": (
            "Ich schreibe Ihnen wegen der {thing}, über die wir letzte Woche gesprochen haben.",
            "Können Sie bitte die {thing} prüfen und mir sagen, ob sie stimmt?",
            "Die {thing} für Ihr Team ist fertig und wir senden sie am {day}.",
            "Wir haben ein Problem mit der {thing} bemerkt und kümmern uns darum.",
            "Bitte bestätigen Sie, dass die {thing} auf {day} verschoben werden kann.",
            "Laut unseren Unterlagen ist die {thing} auf Ihrem Konto noch offen.",
            "Die {thing} finden Sie im Anhang dieser E-Mail.",
            "Wenn Sie Fragen zu der {thing} haben, antworten Sie einfach auf diese Nachricht.",
            "Wir freuen uns, Ihnen mitzuteilen, dass die {thing} genehmigt wurde.",
            "Der Preis für die {thing} beträgt {amount}, wie mit Ihrem Büro vereinbart.",
            "Es wäre eine große Hilfe, wenn Sie die {thing} vor {day} unterschreiben.",
            "Ihre {thing} läuft bald ab, bitte sehen Sie sich das in dieser Woche an.",
        ),
        "things": (
            "Rechnung",
            "Lieferung",
            "Bestellung",
            "Zahlung",
            "Sendung",
            "Verlängerung",
            "Umfrage",
            "Besprechung",
            "Vereinbarung",
            "Gutschrift",
            "Anfrage",
            "Lizenz",
        ),
        "days": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "nächste Woche"),
        "close": ("Mit freundlichen Grüßen,", "Viele Grüße,", "Beste Grüße,", "Danke und Gruß,"),
        "subject": (
            "Zur {thing}",
            "Ihre {thing}",
            "Frage zu der {thing}",
            "Update: {thing} am {day}",
            "Erinnerung an die {thing}",
        ),
    },
    "fr": {
        "greet": ("Bonjour {first},", "Cher {first},", "Madame, Monsieur,", "Salut {first},"),
        "frames": (
            "Je vous écris au sujet de la {thing} dont nous avons parlé la semaine dernière.",
            "Pourriez-vous vérifier la {thing} et me dire si elle est correcte ?",
            "La {thing} pour votre équipe est prête et nous la enverrons {day}.",
            "Nous avons remarqué un problème avec la {thing} et nous nous en occupons.",
            "Merci de confirmer que la {thing} peut être déplacée à {day}.",
            "Selon nos dossiers, la {thing} est toujours ouverte sur votre compte.",
            "Vous trouverez la {thing} dans la pièce jointe de ce message.",
            "Si vous avez des questions sur la {thing}, répondez simplement à ce message.",
            "Nous sommes heureux de vous dire que la {thing} a été approuvée.",
            "Le prix de la {thing} est de {amount}, comme convenu avec votre bureau.",
            "Ce serait une grande aide si vous pouviez signer la {thing} avant {day}.",
            "Votre {thing} expire bientôt, merci de la regarder cette semaine.",
        ),
        "things": (
            "facture",
            "livraison",
            "commande",
            "réunion",
            "demande",
            "licence",
            "offre",
            "expédition",
            "proposition",
            "enquête",
            "réservation",
            "convention",
        ),
        "days": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "la semaine prochaine"),
        "close": (
            "Cordialement,",
            "Bien à vous,",
            "Merci et bonne journée,",
            "Sincères salutations,",
        ),
        "subject": (
            "Au sujet de la {thing}",
            "Votre {thing}",
            "Question sur la {thing}",
            "Mise à jour : {thing} {day}",
            "Rappel pour la {thing}",
        ),
    },
    "es": {
        "greet": ("Hola {first},", "Estimado {first},", "Buenos días {first},", "Querida {first},"),
        "frames": (
            "Le escribo por la {thing} de la que hablamos la semana pasada.",
            "¿Podría revisar la {thing} y decirme si es correcta?",
            "La {thing} para su equipo está lista y la enviaremos el {day}.",
            "Hemos notado un problema con la {thing} y lo estamos revisando.",
            "Por favor, confirme que la {thing} se puede mover al {day}.",
            "Según nuestros registros, la {thing} sigue abierta en su cuenta.",
            "Encontrará la {thing} en el adjunto de este correo.",
            "Si tiene preguntas sobre la {thing}, responda a este mensaje.",
            "Nos alegra decirle que la {thing} ha sido aprobada.",
            "El precio de la {thing} es de {amount}, como se acordó con su oficina.",
            "Nos ayudaría mucho que firmara la {thing} antes del {day}.",
            "Su {thing} vence pronto, por favor revísela esta semana.",
        ),
        "things": (
            "factura",
            "entrega",
            "reunión",
            "orden",
            "solicitud",
            "licencia",
            "oferta",
            "renovación",
            "propuesta",
            "encuesta",
            "reserva",
            "transferencia",
        ),
        "days": ("lunes", "martes", "miércoles", "jueves", "viernes", "la próxima semana"),
        "close": ("Saludos cordiales,", "Un saludo,", "Gracias y saludos,", "Atentamente,"),
        "subject": (
            "Sobre la {thing}",
            "Su {thing}",
            "Pregunta sobre la {thing}",
            "Novedad: {thing} el {day}",
            "Recordatorio de la {thing}",
        ),
    },
    "it": {
        "greet": ("Ciao {first},", "Gentile {first},", "Buongiorno {first},", "Caro {first},"),
        "frames": (
            "Vi scrivo per la {thing} di cui abbiamo parlato la settimana scorsa.",
            "Potreste controllare la {thing} e dirmi se è corretta?",
            "La {thing} per il vostro team è pronta e la invieremo {day}.",
            "Abbiamo notato un problema con la {thing} e ce ne stiamo occupando.",
            "Vi prego di confermare che la {thing} può essere spostata a {day}.",
            "Secondo i nostri dati, la {thing} è ancora aperta sul vostro conto.",
            "Trovate la {thing} in allegato a questa email.",
            "Se avete domande sulla {thing}, rispondete pure a questo messaggio.",
            "Siamo lieti di comunicarvi che la {thing} è stata approvata.",
            "Il prezzo della {thing} è di {amount}, come concordato con il vostro ufficio.",
            "Ci sarebbe di grande aiuto se firmaste la {thing} prima di {day}.",
            "La vostra {thing} scade presto, per favore guardatela questa settimana.",
        ),
        "things": (
            "fattura",
            "consegna",
            "riunione",
            "richiesta",
            "licenza",
            "offerta",
            "spedizione",
            "proposta",
            "prenotazione",
            "polizza",
            "garanzia",
            "indagine",
        ),
        "days": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "la prossima settimana"),
        "close": ("Cordiali saluti,", "Un saluto,", "Grazie e buona giornata,", "Distinti saluti,"),
        "subject": (
            "Per la {thing}",
            "La vostra {thing}",
            "Domanda sulla {thing}",
            "Aggiornamento: {thing} {day}",
            "Promemoria per la {thing}",
        ),
    },
    "pt": {
        "greet": ("Olá {first},", "Prezado {first},", "Bom dia {first},", "Cara {first},"),
        "frames": (
            "Escrevo sobre a {thing} de que falamos na semana passada.",
            "Você pode verificar a {thing} e me dizer se está correta?",
            "A {thing} para a sua equipe está pronta e vamos enviá-la na {day}.",
            "Notamos um problema com a {thing} e estamos a tratar disso.",
            "Por favor, confirme que a {thing} pode ser movida para {day}.",
            "Segundo os nossos registos, a {thing} ainda está em aberto na sua conta.",
            "Você encontra a {thing} no anexo deste email.",
            "Se tiver perguntas sobre a {thing}, basta responder a esta mensagem.",
            "Temos o prazer de informar que a {thing} foi aprovada.",
            "O preço da {thing} é de {amount}, como combinado com o seu escritório.",
            "Seria uma grande ajuda se você assinasse a {thing} antes de {day}.",
            "A sua {thing} vence em breve, por favor veja isso esta semana.",
        ),
        "things": (
            "fatura",
            "entrega",
            "reunião",
            "encomenda",
            "proposta",
            "licença",
            "oferta",
            "renovação",
            "pesquisa",
            "reserva",
            "transferência",
            "garantia",
        ),
        "days": (
            "segunda-feira",
            "terça-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "próxima semana",
        ),
        "close": ("Atenciosamente,", "Cumprimentos,", "Obrigado e até breve,", "Abraço,"),
        "subject": (
            "Sobre a {thing}",
            "A sua {thing}",
            "Pergunta sobre a {thing}",
            "Atualização: {thing} na {day}",
            "Lembrete da {thing}",
        ),
    },
}
PROSE_LANGUAGES = tuple(_PROSE)
# Field names whose strings are prose (a body) or a headline (a subject) in a generation.
PROSE_FIELDS = frozenset({"body", "content", "message", "email_body", "letter"})
HEADLINE_FIELDS = frozenset({"subject", "title", "headline"})
SENDER_FIELDS = frozenset({"sender", "from", "from_address", "author"})


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[int(rng.random() * len(options))]


def _fill(rng: random.Random, words: dict[str, tuple[str, ...]], frame: str) -> str:
    amount = f"{int(rng.random() * 9000) + 100},{int(rng.random() * 90) + 10} EUR"
    return frame.format(
        thing=_pick(rng, words["things"]),
        day=_pick(rng, words["days"]),
        amount=amount,
        first=FIRST[int(rng.random() * len(FIRST))],
    )


def prose(rng: random.Random, language: str | None = None) -> str:
    """An email body in ``language`` (one of :data:`PROSE_LANGUAGES`, else English)."""
    words = _PROSE.get((language or "en").lower(), _PROSE["en"])
    frames = list(words["frames"])
    count = 3 + int(rng.random() * 5)
    rng.shuffle(frames)
    sentences = [_fill(rng, words, frame) for frame in frames[:count]]
    # Sentences in two or three paragraphs, so lengths and shapes vary like real mail.
    cut = 1 + int(rng.random() * (len(sentences) - 1))
    paragraphs = [" ".join(sentences[:cut]), " ".join(sentences[cut:])]
    return "\n\n".join(
        [
            _fill(rng, words, _pick(rng, words["greet"])),
            *paragraphs,
            f"{_pick(rng, words['close'])}\n{_person(rng)}",
        ]
    )


def headline(rng: random.Random, language: str | None = None) -> str:
    """A subject line in ``language``."""
    words = _PROSE.get((language or "en").lower(), _PROSE["en"])
    return _fill(rng, words, _pick(rng, words["subject"]))


def sender(rng: random.Random) -> str:
    """``Name <address>``: a sender line (the address made from the name)."""
    first, last = FIRST[int(rng.random() * 10)], LAST[int(rng.random() * 10)]
    domain = WORDS[int(rng.random() * len(WORDS))]
    address = f"{first}.{last}".lower().replace("ü", "u")
    return f"{first} {last} <{address}@{domain}-mail.example>"
