"""The short Italian pages a customer sees after opening the unsubscribe link of an email.

Self-contained HTML (no scripts, no external resources): the page is seen once, often on a phone, and must not
leak the link's signature to a third party through a stylesheet or an image request. No page names the contact.
"""

from __future__ import annotations

from html import escape
from typing import Final, Literal

PageName = Literal["confirm", "done", "bad_link", "too_large", "unavailable", "method_not_allowed"]

_TEXTS: Final[dict[str, tuple[str, str]]] = {
    "confirm": (
        "Annulla l'iscrizione",
        "Confermi di non voler più ricevere le email di SiComputer a questo indirizzo?",
    ),
    "done": (
        "Iscrizione annullata",
        "Fatto: non riceverai più le nostre email a questo indirizzo. Se è stato un errore, scrivi pure al tuo "
        "referente commerciale.",
    ),
    "bad_link": (
        "Link non valido",
        "Questo link non è valido o è scaduto, e non abbiamo modificato nulla. Usa il link dell'email più recente "
        "che hai ricevuto da noi, oppure rispondi a quell'email.",
    ),
    "too_large": ("Richiesta non valida", "La richiesta è troppo grande. Riprova dal link della nostra email."),
    "unavailable": (
        "Servizio momentaneamente non disponibile",
        "Al momento non riusciamo a completare la richiesta. Riprova tra qualche minuto dal link della nostra email.",
    ),
    "method_not_allowed": ("Richiesta non valida", "Apri il link della nostra email dal tuo programma di posta."),
}

# the confirmation form posts to the page's own URL, which keeps the signed query (RFC 8058's one-click body)
_FORM: Final = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit">Conferma</button></form>'
)


def page(name: PageName) -> str:
    title, text = _TEXTS[name]
    form = _FORM if name == "confirm" else ""
    return (
        '<!doctype html><html lang="it"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} - SiComputer</title>"
        "<style>body{font-family:sans-serif;max-width:34em;margin:3em auto;padding:0 1em;line-height:1.5}"
        "button{font-size:1em;padding:.5em 1.5em}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}<p>SiComputer</p></body></html>"
    )
