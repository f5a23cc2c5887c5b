"""The sandbox portal's schema: owners, deal pipelines with stages, property definitions and groups.

SiComputer's portal as HubSpot's API returns it (JSON-ready dicts, labels in Italian), present even in an empty
portal. Ids are fixed constants so that tests, the demo and the generator can name a pipeline or a stage without a
lookup; Flywheel itself resolves them by label through the pipelines API, as it must against a real portal.
"""

from __future__ import annotations

from typing import Any

# When the portal "was set up": every schema object carries these timestamps (HubSpot always returns them).
SCHEMA_CREATED_AT = "2019-01-07T08:00:00.000Z"
SCHEMA_UPDATED_AT = "2024-09-02T07:30:00.000Z"

SALES_ASSISTANT_EMAIL = "assistente.commerciale@sicomputer.it"

# --- Owners ----------------------------------------------------------------------------------------------------

_REPS: tuple[tuple[str, str], ...] = (
    ("Marco", "Rossi"),
    ("Giulia", "Bianchi"),
    ("Luca", "Ferrari"),
    ("Francesca", "Russo"),
    ("Alessandro", "Romano"),
    ("Chiara", "Colombo"),
    ("Davide", "Ricci"),
    ("Elena", "Marino"),
    ("Matteo", "Greco"),
    ("Sara", "Bruno"),
    ("Andrea", "Gallo"),
    ("Valentina", "Conti"),
    ("Stefano", "De Luca"),
    ("Federica", "Mancini"),
    ("Paolo", "Costa"),
)


def _owner(index: int, first_name: str, last_name: str, email: str) -> dict[str, Any]:
    return {
        "id": str(81_720_001 + index),
        "email": email,
        "firstName": first_name,
        "lastName": last_name,
        "userId": 5_310_001 + index,
        "userIdIncludingInactive": 5_310_001 + index,
        "type": "PERSON",
        "createdAt": SCHEMA_CREATED_AT,
        "updatedAt": SCHEMA_UPDATED_AT,
        "archived": False,
    }


def _rep_email(first_name: str, last_name: str) -> str:
    return f"{first_name}.{last_name}".lower().replace(" ", "") + "@sicomputer.it"


OWNERS: list[dict[str, Any]] = [
    _owner(index, first, last, _rep_email(first, last)) for index, (first, last) in enumerate(_REPS)
] + [_owner(len(_REPS), "Laura", "Fontana", SALES_ASSISTANT_EMAIL)]

SALES_REP_IDS: tuple[str, ...] = tuple(owner["id"] for owner in OWNERS[: len(_REPS)])
SALES_ASSISTANT_ID: str = OWNERS[-1]["id"]

# --- Deal pipelines --------------------------------------------------------------------------------------------

# "Pipeline delle vendite" is the portal's default sales pipeline, so it keeps HubSpot's default ids.
SALES_PIPELINE_ID = "default"
SALES_STAGE_OPEN_IDS: tuple[str, ...] = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
SALES_STAGE_WON_ID = "closedwon"
SALES_STAGE_LOST_ID = "closedlost"

# "Sales management" holds the orders placed on the e-commerce site; custom pipelines get numeric ids.
ECOMMERCE_PIPELINE_ID = "14523701"
ECOMMERCE_STAGE_OPEN_IDS: tuple[str, ...] = ("40118801", "40118802", "40118803")
ECOMMERCE_STAGE_WON_ID = "40118804"
ECOMMERCE_STAGE_LOST_ID = "40118805"

WAKEUP_PIPELINE_ID = "14523702"
WAKEUP_STAGE_NEW_ID = "40118901"
WAKEUP_STAGE_CONTACTED_ID = "40118902"
WAKEUP_STAGE_INTERESTED_ID = "40118903"
WAKEUP_STAGE_APPOINTMENT_ID = "40118904"
WAKEUP_STAGE_WON_ID = "40118905"
WAKEUP_STAGE_LOST_ID = "40118906"

ORDER_PIPELINE_IDS: tuple[str, ...] = (SALES_PIPELINE_ID, ECOMMERCE_PIPELINE_ID)
WON_STAGE_BY_PIPELINE: dict[str, str] = {
    SALES_PIPELINE_ID: SALES_STAGE_WON_ID,
    ECOMMERCE_PIPELINE_ID: ECOMMERCE_STAGE_WON_ID,
    WAKEUP_PIPELINE_ID: WAKEUP_STAGE_WON_ID,
}


def _stage(stage_id: str, label: str, order: int, probability: str, closed: bool) -> dict[str, Any]:
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        "createdAt": SCHEMA_CREATED_AT,
        "updatedAt": SCHEMA_UPDATED_AT,
        "archived": False,
    }


def _pipeline(pipeline_id: str, label: str, order: int, stages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": pipeline_id,
        "label": label,
        "displayOrder": order,
        "createdAt": SCHEMA_CREATED_AT,
        "updatedAt": SCHEMA_UPDATED_AT,
        "archived": False,
        "stages": stages,
    }


PIPELINES: dict[str, list[dict[str, Any]]] = {
    "deals": [
        _pipeline(
            SALES_PIPELINE_ID,
            "Pipeline delle vendite",
            0,
            [
                _stage("appointmentscheduled", "Appuntamento programmato", 0, "0.2", False),
                _stage("qualifiedtobuy", "Qualificato all'acquisto", 1, "0.4", False),
                _stage("presentationscheduled", "Presentazione fissata", 2, "0.6", False),
                _stage("decisionmakerboughtin", "Decisore convinto", 3, "0.8", False),
                _stage("contractsent", "Offerta inviata", 4, "0.9", False),
                _stage(SALES_STAGE_WON_ID, "Chiuso vinto", 5, "1.0", True),
                _stage(SALES_STAGE_LOST_ID, "Chiuso perso", 6, "0.0", True),
            ],
        ),
        _pipeline(
            ECOMMERCE_PIPELINE_ID,
            "Sales management",
            1,
            [
                _stage("40118801", "Ordine ricevuto", 0, "0.5", False),
                _stage("40118802", "In attesa di pagamento", 1, "0.7", False),
                _stage("40118803", "In preparazione", 2, "0.9", False),
                _stage(ECOMMERCE_STAGE_WON_ID, "Ordine evaso", 3, "1.0", True),
                _stage(ECOMMERCE_STAGE_LOST_ID, "Ordine annullato", 4, "0.0", True),
            ],
        ),
        _pipeline(
            WAKEUP_PIPELINE_ID,
            "Wake Up Pipeline",
            2,
            [
                _stage(WAKEUP_STAGE_NEW_ID, "Da contattare", 0, "0.1", False),
                _stage(WAKEUP_STAGE_CONTACTED_ID, "Contattato", 1, "0.2", False),
                _stage(WAKEUP_STAGE_INTERESTED_ID, "Interessato", 2, "0.4", False),
                _stage(WAKEUP_STAGE_APPOINTMENT_ID, "Appuntamento fissato", 3, "0.6", False),
                _stage(WAKEUP_STAGE_WON_ID, "Riattivato", 4, "1.0", True),
                _stage(WAKEUP_STAGE_LOST_ID, "Non interessato", 5, "0.0", True),
            ],
        ),
    ],
}

# --- Properties ------------------------------------------------------------------------------------------------

# Object types the sandbox serves, by the plural name the v3 API uses.
OBJECT_TYPES: tuple[str, ...] = (
    "companies",
    "contacts",
    "deals",
    "tasks",
    "notes",
    "calls",
    "emails",
    "meetings",
    "carts",
    "line_items",
)

Options = list[tuple[str, str]]  # (value, Italian label)

# HubSpot's own values of hs_legal_basis (its dashes are inconsistent, exactly as HubSpot's are)
LEGAL_BASIS_VALUES: tuple[str, ...] = (
    "Legitimate interest – prospect/lead",
    "Legitimate interest – existing customer",
    "Legitimate interest - other",
    "Performance of a contract",
    "Freely given consent from contact",
    "Not applicable",
)
CUSTOMER_CATEGORIES: tuple[str, ...] = (
    "reseller",
    "system_integrator",
    "public_administration",
    "end_user",
    "other",
)
DP_LEVELS: tuple[str, ...] = ("none", "bronze", "silver", "gold")

PROVINCES: tuple[tuple[str, str], ...] = (
    ("AN", "Ancona"), ("AO", "Aosta"), ("AQ", "L'Aquila"), ("AR", "Arezzo"), ("BA", "Bari"),
    ("BG", "Bergamo"), ("BO", "Bologna"), ("BR", "Brindisi"), ("BS", "Brescia"), ("BZ", "Bolzano"),
    ("CA", "Cagliari"), ("CB", "Campobasso"), ("CE", "Caserta"), ("CO", "Como"), ("CS", "Cosenza"),
    ("CT", "Catania"), ("CZ", "Catanzaro"), ("FE", "Ferrara"), ("FI", "Firenze"), ("FG", "Foggia"),
    ("GE", "Genova"), ("LE", "Lecce"), ("LI", "Livorno"), ("LU", "Lucca"), ("MB", "Monza"),
    ("ME", "Messina"), ("MI", "Milano"), ("MN", "Mantova"), ("MO", "Modena"), ("NA", "Napoli"),
    ("NO", "Novara"), ("PA", "Palermo"), ("PD", "Padova"), ("PE", "Pescara"), ("PG", "Perugia"),
    ("PI", "Pisa"), ("PR", "Parma"), ("PZ", "Potenza"), ("RA", "Ravenna"), ("RC", "Reggio Calabria"),
    ("RE", "Reggio Emilia"), ("RM", "Roma"), ("SA", "Salerno"), ("SS", "Sassari"), ("TA", "Taranto"),
    ("TN", "Trento"), ("TO", "Torino"), ("TS", "Trieste"), ("TV", "Treviso"), ("UD", "Udine"),
    ("VA", "Varese"), ("VE", "Venezia"), ("VI", "Vicenza"), ("VR", "Verona"),
)  # fmt: skip

_GROUP_LABELS: dict[str, list[tuple[str, str]]] = {
    "companies": [
        ("companyinformation", "Informazioni azienda"),
        ("sicomputer", "SiComputer"),
        ("flywheel", "Flywheel"),
    ],
    "contacts": [("contactinformation", "Informazioni contatto"), ("consent", "Consenso e privacy")],
    "deals": [("dealinformation", "Informazioni trattativa"), ("wakeup", "Wake Up"), ("flywheel", "Flywheel")],
    "tasks": [("task", "Informazioni attività"), ("flywheel", "Flywheel")],
    "notes": [("engagement", "Informazioni interazione")],
    "calls": [("engagement", "Informazioni interazione")],
    "emails": [("engagement", "Informazioni interazione")],
    "meetings": [("engagement", "Informazioni interazione")],
    "carts": [("cartinformation", "Informazioni carrello")],
    "line_items": [("lineiteminformation", "Informazioni prodotto")],
}

PROPERTY_GROUPS: dict[str, list[dict[str, Any]]] = {
    object_type: [
        {"name": name, "label": label, "displayOrder": order, "archived": False}
        for order, (name, label) in enumerate(groups)
    ]
    for object_type, groups in _GROUP_LABELS.items()
}

# HubSpot's field type for each property type when the definition does not say otherwise
_DEFAULT_FIELD_TYPE = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}
_BOOLEAN_OPTIONS: Options = [("true", "Sì"), ("false", "No")]


def _prop(
    name: str,
    label: str,
    type_: str,
    group: str,
    *,
    field_type: str | None = None,
    options: Options | None = None,
    description: str = "",
    hubspot_defined: bool = False,
    read_only: bool = False,
    unique: bool = False,
) -> dict[str, Any]:
    if type_ == "bool" and options is None:
        options = _BOOLEAN_OPTIONS
    definition: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type or _DEFAULT_FIELD_TYPE[type_],
        "groupName": group,
        "description": description,
        "options": [
            {"label": option_label, "value": value, "displayOrder": order, "hidden": False}
            for order, (value, option_label) in enumerate(options or [])
        ],
        "displayOrder": -1,
        "hasUniqueValue": unique,
        "hidden": False,
        "formField": not read_only,
        "calculated": False,
        "externalOptions": False,
        "createdAt": SCHEMA_CREATED_AT,
        "updatedAt": SCHEMA_UPDATED_AT,
        "archived": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
    }
    if hubspot_defined:
        definition["hubspotDefined"] = True
    return definition


def _record_properties(group: str) -> list[dict[str, Any]]:
    """The properties HubSpot keeps on every object: creation, last modification, record id."""
    return [
        _prop("createdate", "Data di creazione", "datetime", group, hubspot_defined=True, read_only=True),
        _prop(
            "hs_lastmodifieddate",
            "Data ultima modifica",
            "datetime",
            group,
            hubspot_defined=True,
            read_only=True,
        ),
        _prop(
            "hs_object_id",
            "ID record",
            "number",
            group,
            hubspot_defined=True,
            read_only=True,
            unique=True,
        ),
    ]


def _owner_property(group: str) -> dict[str, Any]:
    return _prop(
        "hubspot_owner_id",
        "Proprietario",
        "enumeration",
        group,
        options=[(owner["id"], f"{owner['firstName']} {owner['lastName']}") for owner in OWNERS],
        hubspot_defined=True,
    )


def _hs(name: str, label: str, type_: str, group: str, **kwargs: Any) -> dict[str, Any]:
    return _prop(name, label, type_, group, hubspot_defined=True, **kwargs)


_COMPANY = [
    _hs("name", "Nome azienda", "string", "companyinformation"),
    _hs("domain", "Dominio", "string", "companyinformation"),
    _hs("phone", "Telefono", "string", "companyinformation", field_type="phonenumber"),
    _hs("city", "Città", "string", "companyinformation"),
    # free text, as in most portals: the sigla is a convention (checked by the Wake Up data-care checklist)
    _prop("province", "Provincia", "string", "companyinformation", description="Sigla della provincia (due lettere)"),
    _owner_property("companyinformation"),
    _prop(
        "customer_category",
        "Categoria cliente",
        "enumeration",
        "sicomputer",
        options=[
            ("reseller", "Rivenditore"),
            ("system_integrator", "System integrator"),
            ("public_administration", "Pubblica amministrazione"),
            ("end_user", "Utente finale"),
            ("other", "Altro"),
        ],
    ),
    _prop(
        "dp_level",
        "Livello D&P",
        "enumeration",
        "sicomputer",
        options=[("none", "Nessuno"), ("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold")],
        description="Livello nel programma fedeltà D&P",
    ),
    _prop("available_credit", "Fido disponibile (EUR)", "number", "sicomputer"),
    _prop("cashback_available", "Cashback disponibile (EUR)", "number", "sicomputer"),
    _prop(
        "ecommerce_account_status",
        "Stato account e-commerce",
        "enumeration",
        "sicomputer",
        options=[("active", "Attivo"), ("suspended", "Sospeso")],
    ),
    _prop("sirank", "SiRank", "number", "flywheel", description="Valore del cliente calcolato da Flywheel"),
    _prop("last_purchase_date", "Data ultimo acquisto", "date", "flywheel"),
    _prop("revenue_mtd", "Fatturato mese corrente", "number", "flywheel"),
    _prop("revenue_prev_month", "Fatturato mese precedente", "number", "flywheel"),
    _prop("revenue_ytd", "Fatturato anno corrente", "number", "flywheel"),
    _prop(
        "wakeup_eligible",
        "Idoneo al Wake Up",
        "bool",
        "flywheel",
        description="Cliente freddo da richiamare (lista CLIENTI FREDDI)",
    ),
    _prop(
        "retention_segment",
        "Segmento di fidelizzazione",
        "enumeration",
        "flywheel",
        options=[
            ("active", "Attivo"),
            ("lukewarm", "Tiepido"),
            ("cold", "Freddo"),
            ("lost", "Perso"),
            ("never", "Mai acquistato"),
        ],
    ),
    _prop("nurture_step", "Passo sequenza nurturing", "number", "flywheel"),
    _prop(
        "nurture_status",
        "Stato sequenza nurturing",
        "enumeration",
        "flywheel",
        options=[
            ("active", "In corso"),
            ("converted", "Convertito"),
            ("completed", "Completata"),
            ("no_consent", "Senza consenso"),
        ],
    ),
    _prop("nurture_coupon_code", "Coupon nurture", "string", "flywheel"),
    _prop("nurture_coupon_expires", "Scadenza coupon nurture", "date", "flywheel"),
]

_CONTACT = [
    _hs("email", "Email", "string", "contactinformation", unique=True),
    _hs("firstname", "Nome", "string", "contactinformation"),
    _hs("lastname", "Cognome", "string", "contactinformation"),
    _hs("phone", "Telefono", "string", "contactinformation", field_type="phonenumber"),
    _hs("jobtitle", "Qualifica", "string", "contactinformation"),
    _hs("company", "Nome azienda", "string", "contactinformation"),
    _owner_property("contactinformation"),
    _hs("hs_email_optout", "Disiscritto da tutte le email", "bool", "consent"),
    _hs(
        "hs_legal_basis",
        "Base giuridica per il trattamento dei dati del contatto",
        "enumeration",
        "consent",
        field_type="checkbox",
        options=[(value, value) for value in LEGAL_BASIS_VALUES],
    ),
]

_DEAL = [
    _hs("dealname", "Nome trattativa", "string", "dealinformation"),
    _hs("amount", "Importo", "number", "dealinformation"),
    _hs("closedate", "Data di chiusura", "datetime", "dealinformation"),
    _hs("pipeline", "Pipeline", "enumeration", "dealinformation", options=[]),
    _hs("dealstage", "Fase della trattativa", "enumeration", "dealinformation", options=[]),
    _owner_property("dealinformation"),
    _hs("description", "Descrizione", "string", "dealinformation", field_type="textarea"),
    _hs("deal_currency_code", "Valuta", "enumeration", "dealinformation", options=[("EUR", "Euro")]),
    _prop(
        "flywheel_key",
        "Chiave Flywheel",
        "string",
        "flywheel",
        description="Chiave di idempotenza delle trattative create da Flywheel",
    ),
    _prop("wakeup_appointment_at", "Data appuntamento", "datetime", "wakeup"),
    _prop(
        "wakeup_appointment_kind",
        "Tipo di appuntamento",
        "enumeration",
        "wakeup",
        options=[("teams_call", "Chiamata Teams"), ("visit", "Visita")],
    ),
    _prop("wakeup_notes", "Note dell'assistente commerciale", "string", "wakeup", field_type="textarea"),
]
# pipeline and dealstage list every pipeline and stage as options, as HubSpot does
for _definition in _DEAL:
    if _definition["name"] == "pipeline":
        _definition["options"] = [
            {"label": p["label"], "value": p["id"], "displayOrder": p["displayOrder"], "hidden": False}
            for p in PIPELINES["deals"]
        ]
    elif _definition["name"] == "dealstage":
        _definition["options"] = [
            {"label": s["label"], "value": s["id"], "displayOrder": order, "hidden": False}
            for order, s in enumerate(s for p in PIPELINES["deals"] for s in p["stages"])
        ]

_TASK = [
    _hs("hs_task_subject", "Titolo", "string", "task"),
    _hs("hs_task_body", "Note attività", "string", "task", field_type="textarea"),
    _hs(
        "hs_task_status",
        "Stato",
        "enumeration",
        "task",
        options=[
            ("NOT_STARTED", "Non avviata"),
            ("IN_PROGRESS", "In corso"),
            ("WAITING", "In attesa"),
            ("DEFERRED", "Rimandata"),
            ("COMPLETED", "Completata"),
        ],
    ),
    _hs(
        "hs_task_priority",
        "Priorità",
        "enumeration",
        "task",
        options=[("NONE", "Nessuna"), ("LOW", "Bassa"), ("MEDIUM", "Media"), ("HIGH", "Alta")],
    ),
    _hs(
        "hs_task_type",
        "Tipo di attività",
        "enumeration",
        "task",
        options=[
            ("CALL", "Chiamata"),
            ("EMAIL", "Email"),
            ("MEETING", "Riunione"),
            ("LINKED_IN", "LinkedIn"),
            ("TODO", "Da fare"),
        ],
    ),
    _hs("hs_timestamp", "Data di scadenza", "datetime", "task"),
    _hs("hs_task_completion_date", "Data di completamento", "datetime", "task", read_only=True),
    _owner_property("task"),
    _prop("flywheel_key", "Chiave Flywheel", "string", "flywheel"),
]


def _engagement(body_fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        _hs("hs_timestamp", "Data attività", "datetime", "engagement"),
        _owner_property("engagement"),
        *body_fields,
    ]


_DIRECTIONS: Options = [("INBOUND", "In entrata"), ("OUTBOUND", "In uscita")]

_NOTE = _engagement([_hs("hs_note_body", "Testo nota", "string", "engagement", field_type="html")])
_CALL = _engagement(
    [
        _hs("hs_call_title", "Titolo chiamata", "string", "engagement"),
        _hs("hs_call_body", "Note chiamata", "string", "engagement", field_type="html"),
        _hs("hs_call_direction", "Direzione", "enumeration", "engagement", options=_DIRECTIONS),
        _hs("hs_call_duration", "Durata (ms)", "number", "engagement"),
        _hs(
            "hs_call_status",
            "Stato chiamata",
            "enumeration",
            "engagement",
            options=[("COMPLETED", "Completata"), ("NO_ANSWER", "Nessuna risposta"), ("BUSY", "Occupato")],
        ),
    ]
)
_EMAIL = _engagement(
    [
        _hs("hs_email_subject", "Oggetto", "string", "engagement"),
        _hs("hs_email_text", "Testo email", "string", "engagement", field_type="textarea"),
        _hs(
            "hs_email_direction",
            "Direzione email",
            "enumeration",
            "engagement",
            options=[("EMAIL", "Inviata"), ("INCOMING_EMAIL", "Ricevuta"), ("FORWARDED_EMAIL", "Inoltrata")],
        ),
        _hs(
            "hs_email_status",
            "Stato email",
            "enumeration",
            "engagement",
            options=[("SENT", "Inviata"), ("BOUNCED", "Respinta"), ("FAILED", "Non riuscita")],
        ),
    ]
)
_MEETING = _engagement(
    [
        _hs("hs_meeting_title", "Titolo riunione", "string", "engagement"),
        _hs("hs_meeting_body", "Descrizione riunione", "string", "engagement", field_type="html"),
        _hs("hs_meeting_start_time", "Inizio", "datetime", "engagement"),
        _hs("hs_meeting_end_time", "Fine", "datetime", "engagement"),
        _hs(
            "hs_meeting_outcome",
            "Esito",
            "enumeration",
            "engagement",
            options=[
                ("SCHEDULED", "Programmata"),
                ("COMPLETED", "Completata"),
                ("RESCHEDULED", "Riprogrammata"),
                ("NO_SHOW", "Assente"),
                ("CANCELED", "Annullata"),
            ],
        ),
    ]
)

_CART = [
    _hs("hs_cart_name", "Nome carrello", "string", "cartinformation"),
    _hs("hs_external_cart_id", "ID carrello esterno", "string", "cartinformation"),
    _hs("hs_source_store", "Negozio", "string", "cartinformation"),
    _hs("hs_total_price", "Totale", "number", "cartinformation"),
    # the portal's currencies: EUR, and the few the e-commerce site also sells in
    _hs(
        "hs_currency_code",
        "Valuta",
        "enumeration",
        "cartinformation",
        options=[("EUR", "Euro"), ("USD", "Dollaro statunitense"), ("CHF", "Franco svizzero"), ("GBP", "Sterlina")],
    ),
    _hs("hs_cart_discount", "Sconto", "number", "cartinformation"),
    _hs("hs_cart_url", "URL carrello", "string", "cartinformation"),
    # a free string, as in HubSpot: the e-commerce connector decides its values
    _hs("hs_external_status", "Stato carrello", "string", "cartinformation"),
    _owner_property("cartinformation"),
]

_LINE_ITEM = [
    _hs("name", "Nome prodotto", "string", "lineiteminformation"),
    _hs("hs_sku", "Codice prodotto", "string", "lineiteminformation"),
    _hs("quantity", "Quantità", "number", "lineiteminformation"),
    _hs("price", "Prezzo unitario", "number", "lineiteminformation"),
    _hs("amount", "Importo netto", "number", "lineiteminformation", read_only=True),
]

_BY_TYPE: dict[str, tuple[list[dict[str, Any]], str]] = {
    "companies": (_COMPANY, "companyinformation"),
    "contacts": (_CONTACT, "contactinformation"),
    "deals": (_DEAL, "dealinformation"),
    "tasks": (_TASK, "task"),
    "notes": (_NOTE, "engagement"),
    "calls": (_CALL, "engagement"),
    "emails": (_EMAIL, "engagement"),
    "meetings": (_MEETING, "engagement"),
    "carts": (_CART, "cartinformation"),
    "line_items": (_LINE_ITEM, "lineiteminformation"),
}

PROPERTIES: dict[str, list[dict[str, Any]]] = {
    object_type: [*definitions, *_record_properties(group)] for object_type, (definitions, group) in _BY_TYPE.items()
}


# What Flywheel's portal provisioning (infra/portal.py) creates: absent from a sandbox started with
# provisioned=False, so that provisioning can be tested against a portal that lacks them.
FLYWHEEL_PROPERTY_GROUPS: dict[str, tuple[str, ...]] = {
    "companies": ("flywheel",),
    "deals": ("flywheel", "wakeup"),
    "tasks": ("flywheel",),
}
FLYWHEEL_PIPELINE_IDS: dict[str, tuple[str, ...]] = {"deals": (WAKEUP_PIPELINE_ID,)}


def property_names(object_type: str) -> frozenset[str]:
    """Names of the properties defined on an object type."""
    return frozenset(definition["name"] for definition in PROPERTIES[object_type])
