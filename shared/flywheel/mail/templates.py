"""The customer emails, in Italian, rendered to a subject and a plain-text body.

Texts live here as code rather than files: they are few, reviewed with the code, and a missing package-data
entry cannot lose them at deploy time. Placeholders are `${name}` (`string.Template`), so braces, dollar signs
or percent signs in a customer's data are never interpreted. Every context value is a ready-made string: dates
come preformatted (e.g. "31/03/2026"), so rendering reads no clock and formats nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from types import MappingProxyType
from typing import Final


class TemplateError(KeyError):
    """An unknown template, or a context without a value the template needs."""

    def __str__(self) -> str:
        # KeyError would quote the message as a repr
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, slots=True)
class _EmailTemplate:
    subject: Template
    body: Template
    required: tuple[str, ...]


_SIGNATURE: Final = """\
Un cordiale saluto,
Il team SiComputer"""

# the link is the signed one-click unsubscribe link (flywheel.mail.links); a reply reaches a person, not a list
_FOOTER: Final = """\
--
SiComputer - distribuzione IT per rivenditori e system integrator
Ricevi questa email perché ${company_name} è cliente SiComputer.
Non vuoi più ricevere le nostre email? Annulla l'iscrizione con un clic: ${unsubscribe_url}"""

# context keys every email needs: the footer's
_FOOTER_KEYS: Final = ("unsubscribe_url",)

_TEXTS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "nurture_1": (
        "Ci manchi, ${company_name}!",
        """\
Gentile ${contact_name},

è passato un po' di tempo dall'ultimo ordine di ${company_name} e volevamo dirtelo: ci manchi!

Sul nostro e-commerce trovi le novità del catalogo, le disponibilità aggiornate in tempo reale e le
condizioni riservate alla tua azienda. Se stai pianificando nuovi progetti o rinnovi, siamo pronti ad
aiutarti a trovare la soluzione giusta.

Torna a trovarci: ${ecommerce_url}

Il tuo referente commerciale resta a tua disposizione per qualsiasi esigenza.

""",
        ("company_name", "contact_name", "ecommerce_url"),
    ),
    "nurture_2": (
        "Un regalo esclusivo per te",
        """\
Gentile ${contact_name},

per ringraziare ${company_name} della fiducia di questi anni abbiamo pensato a un regalo riservato a te:
un coupon da usare sul tuo prossimo ordine online.

Il tuo codice: ${coupon_code}
Valido fino al: ${coupon_expiry}

Inseriscilo al momento dell'ordine su ${ecommerce_url}

Se hai bisogno di un consiglio su prodotti o configurazioni, chiamaci: saremo felici di aiutarti.

""",
        ("company_name", "contact_name", "coupon_code", "coupon_expiry", "ecommerce_url"),
    ),
    "nurture_3": (
        "La tua opinione conta: ci aiuti a migliorare?",
        """\
Gentile ${contact_name},

vogliamo offrire a ${company_name} un servizio sempre all'altezza delle sue aspettative, e per farlo
abbiamo bisogno del tuo parere.

Ti chiediamo due minuti per rispondere a un breve sondaggio su prodotti, prezzi, consegne e assistenza:
${survey_url}

Ogni risposta viene letta dal nostro team e ci aiuta a capire cosa possiamo fare meglio per te.

Grazie fin d'ora per il tuo tempo.

""",
        ("company_name", "contact_name", "survey_url"),
    ),
    "nurture_4": (
        "Il tuo coupon ${coupon_code} sta per scadere",
        """\
Gentile ${contact_name},

nelle ultime settimane ti abbiamo scritto alcune volte: ecco un breve riepilogo, per non perdere nulla.

- Il nostro e-commerce: le novità del catalogo, le disponibilità aggiornate in tempo reale e le condizioni
  riservate a ${company_name}: ${ecommerce_url}
- Il tuo regalo: il coupon ${coupon_code}, da usare sul tuo prossimo ordine online.
- Il sondaggio: due minuti per dirci cosa possiamo fare meglio per te: ${survey_url}

Il coupon scade il ${coupon_expiry}: fino a quel giorno puoi usarlo sul tuo prossimo ordine.

Se c'è qualcosa che possiamo fare per te, rispondi pure a questa email: ti risponderà il tuo referente
commerciale.

""",
        ("company_name", "contact_name", "coupon_code", "coupon_expiry", "ecommerce_url", "survey_url"),
    ),
    "nurture_5": (
        "Account e-commerce sospeso per motivi di sicurezza",
        """\
Gentile ${contact_name},

per motivi di sicurezza, dal ${suspension_date} l'account e-commerce di ${company_name} è sospeso, poiché
non viene utilizzato da diverso tempo. I tuoi dati e lo storico degli ordini restano al sicuro.

Riattivarlo è semplice: contatta il tuo referente commerciale, ${owner_name}, oppure rispondi a questa
email. Appena riattivato potrai accedere di nuovo da ${ecommerce_url}

Saremo lieti di tornare a lavorare con te.

""",
        ("company_name", "contact_name", "suspension_date", "owner_name", "ecommerce_url"),
    ),
    "riattivazione": (
        "${company_name}, ripartiamo insieme?",
        """\
Gentile ${contact_name},

sono ${owner_name}, il referente commerciale di ${company_name} in SiComputer. È da un po' che non ci
sentiamo e mi farebbe piacere capire come stanno andando i vostri progetti e se possiamo esservi utili.

Possiamo fissare una breve telefonata o una visita nei prossimi giorni: ${invitation}

Nel frattempo, sul nostro e-commerce trovi il catalogo aggiornato e le condizioni riservate a voi:
${ecommerce_url}

A presto,
${owner_name}
SiComputer

""",
        ("company_name", "contact_name", "owner_name", "ecommerce_url"),
    ),
    "carrello_abbandonato": (
        "${company_name}, hai lasciato dei prodotti nel carrello",
        """\
Gentile ${contact_name},

abbiamo notato che nel carrello di ${company_name} sul nostro e-commerce sono rimasti questi prodotti:

${cart_lines}

Totale: ${cart_total}

Il carrello è ancora lì ad aspettarti: per completare l'ordine ti basta aprirlo qui
${cart_url}

Se hai bisogno di un chiarimento su prodotti, disponibilità o condizioni, rispondi a questa email o
chiama il tuo referente commerciale: saremo felici di aiutarti.

""",
        ("company_name", "contact_name", "cart_lines", "cart_total", "cart_url"),
    ),
    "cashback_promemoria": (
        "${company_name}, il tuo cashback di ${cashback_amount} scade il ${expiry_date}",
        """\
Gentile ${contact_name},

${company_name} ha ancora ${cashback_amount} di cashback disponibile.

Ricorda: il cashback non utilizzato entro il ${expiry_date}, ultimo giorno del mese, andrà perso.
Usalo sul tuo prossimo ordine su ${ecommerce_url}

Per qualsiasi domanda puoi rivolgerti al tuo referente commerciale, ${owner_name}.

""",
        ("company_name", "contact_name", "cashback_amount", "expiry_date", "owner_name", "ecommerce_url"),
    ),
    "cashback_soglia": (
        "${company_name}, ti mancano ${missing_amount} per il cashback",
        """\
Gentile ${contact_name},

questo mese gli ordini di ${company_name} hanno raggiunto ${month_revenue}: ti mancano solo
${missing_amount} per arrivare a ${threshold_amount} e ottenere il cashback da usare il mese prossimo.

Hai tempo fino al ${month_end}. Trovi il catalogo e le disponibilità aggiornate su ${ecommerce_url}

Per qualsiasi domanda puoi rivolgerti al tuo referente commerciale, ${owner_name}.

""",
        (
            "company_name",
            "contact_name",
            "month_revenue",
            "missing_amount",
            "threshold_amount",
            "month_end",
            "owner_name",
            "ecommerce_url",
        ),
    ),
    "dp_congratulazioni": (
        "Congratulazioni ${company_name}: sei Dealer & Partner ${level_name}!",
        """\
Gentile ${contact_name},

congratulazioni: ${company_name} ha raggiunto il livello ${level_name} del programma Dealer & Partner
SiComputer. Grazie per la fiducia che ci dimostri ogni giorno.

Per conoscere i vantaggi del nuovo livello rivolgiti al tuo referente commerciale, ${owner_name}.

""",
        ("company_name", "contact_name", "level_name", "owner_name"),
    ),
    "dp_progresso": (
        "${company_name}, sei vicino al livello ${level_name}",
        """\
Gentile ${contact_name},

negli ultimi 12 mesi ${company_name} ha ordinato ${revenue_12m}: ti mancano solo ${missing_amount}
per raggiungere ${threshold_amount} e il livello ${level_name} del programma Dealer & Partner.

Trovi il catalogo e le disponibilità aggiornate su ${ecommerce_url}

Per qualsiasi domanda puoi rivolgerti al tuo referente commerciale, ${owner_name}.

""",
        (
            "company_name",
            "contact_name",
            "revenue_12m",
            "missing_amount",
            "threshold_amount",
            "level_name",
            "owner_name",
            "ecommerce_url",
        ),
    ),
}
# the reactivation email is signed by the owner; the sequence emails by the team
_SIGNED_BY_OWNER: Final = frozenset({"riattivazione"})

# keys a template uses when given, and the text they become (string.Template has no conditionals)
OPTIONAL: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({"riattivazione": ("meeting_url",)})


def _invitation(context: Mapping[str, str]) -> str:
    """The owner's booking page when one is configured (`cold.meeting_links`), else a reply."""
    url = context.get("meeting_url", "").strip()
    if url:
        return f"scegli il momento che preferisci\nnella mia agenda, {url}\noppure rispondi a questa email."
    return "basta rispondere a questa email\ncon il momento che preferisci."


_DERIVED: Final = {"invitation": _invitation}


def _build() -> dict[str, _EmailTemplate]:
    built = {}
    for key, (subject, body, required) in _TEXTS.items():
        closing = "" if key in _SIGNED_BY_OWNER else _SIGNATURE + "\n\n"
        built[key] = _EmailTemplate(
            Template(subject), Template(body + closing + _FOOTER + "\n"), (*required, *_FOOTER_KEYS)
        )
    return built


_TEMPLATES: Final = _build()

TEMPLATES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {key: template.required for key, template in _TEMPLATES.items()}
)
"""Template key -> the context keys it requires."""


def render(template: str, context: Mapping[str, str]) -> tuple[str, str]:
    """(subject, plain-text body) of `template` personalised with `context`; extra context keys are ignored."""
    found = _template(template)
    values = personalisation(template, context)
    return found.subject.substitute(values), found.body.substitute(values)


def personalisation(template: str, context: Mapping[str, str]) -> dict[str, str]:
    """The value of every placeholder of `template` from `context`: what `render` substitutes, and what the
    HubSpot mailer sends as custom properties (the email's own text then lives in HubSpot)."""
    found = _template(template)
    missing = [key for key in found.required if key not in context]
    if missing:
        names = ", ".join(repr(key) for key in missing)
        raise TemplateError(f"email template {template!r} needs context key {names}")
    values = {key: context[key].strip() for key in found.required}
    if not values["contact_name"]:
        values["contact_name"] = "Cliente"
    values |= {name: derive(context) for name, derive in _DERIVED.items()}
    return values


def source(template: str) -> tuple[str, str]:
    """(subject, body) of `template` as written, placeholders `${name}` unfilled, footer and signature included."""
    found = _template(template)
    return found.subject.template, found.body.template


def _template(template: str) -> _EmailTemplate:
    found = _TEMPLATES.get(template)
    if found is None:
        raise TemplateError(f"unknown email template {template!r}; known: {', '.join(sorted(_TEMPLATES))}")
    return found
