"""Every threshold, property name, pipeline, template and schedule, from the environment (or an env file).

Top-level settings read plain names (`HUBSPOT_API_BASE`, `HUBSPOT_ACCESS_TOKEN`, `FLYWHEEL_STATE`,
`FLYWHEEL_MAILER`, ...). Rule sections are nested with a double underscore:
`FLYWHEEL_SIRANK__WINDOW_DAYS=365`, `FLYWHEEL_COLD__MORE_THAN_DAYS=180`, `FLYWHEEL_PORTAL__ORDER_PIPELINES='["..."]'`.
An env file is read from `FLYWHEEL_ENV_FILE` when set.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flywheel.domain.calendar import BusinessCalendar
from flywheel.errors import ConfigurationError


class PortalContract(BaseModel):
    """Names of the HubSpot properties, pipelines and stages Flywheel reads and writes."""

    # company properties read
    company_name: str = "name"
    category: str = "customer_category"
    province: str = "province"
    dp_level: str = "dp_level"
    available_credit: str = "available_credit"
    cashback_available: str = "cashback_available"
    ecommerce_status: str = "ecommerce_account_status"
    phone: str = "phone"
    # company properties Flywheel writes
    sirank: str = "sirank"
    last_purchase_date: str = "last_purchase_date"
    retention_segment: str = "retention_segment"
    # EUR, by sirank_recalc: this month up to the run's day, the previous calendar month, 1 January up to the day
    revenue_mtd: str = "revenue_mtd"
    revenue_prev_month: str = "revenue_prev_month"
    revenue_ytd: str = "revenue_ytd"
    nurture_step: str = "nurture_step"
    nurture_status: str = "nurture_status"
    # the nurture gift, so the e-commerce site (which reads HubSpot) can honour it
    nurture_coupon_code: str = "nurture_coupon_code"
    nurture_coupon_expires: str = "nurture_coupon_expires"  # date
    # contact properties
    contact_email: str = "email"
    contact_optout: str = "hs_email_optout"
    contact_legal_basis: str = "hs_legal_basis"
    # set on every deal and task Flywheel creates, so a half-finished effect can be found again
    flywheel_key: str = "flywheel_key"
    # deal pipelines, by label or id (resolved through the pipelines API)
    order_pipelines: list[str] = Field(default_factory=lambda: ["Pipeline delle vendite", "Sales management"])
    wakeup_pipeline: str = "Wake Up Pipeline"
    wakeup_stage_new: str = "Da contattare"
    wakeup_stage_contacted: str = "Contattato"
    wakeup_stage_interested: str = "Interessato"
    wakeup_stage_appointment: str = "Appuntamento fissato"
    wakeup_stage_won: str = "Riattivato"
    wakeup_stage_lost: str = "Non interessato"
    # the owner (by email) who works the Wake Up pipeline
    sales_assistant_email: str = "assistente.commerciale@sicomputer.it"
    # Wake Up deal properties the assistant fills when she fixes an appointment
    wakeup_appointment_at: str = "wakeup_appointment_at"  # datetime
    wakeup_appointment_kind: str = "wakeup_appointment_kind"  # teams_call | visit
    wakeup_notes: str = "wakeup_notes"


class SirankRules(BaseModel):
    window_days: int = 365
    frequency_weight: float = 0.5
    frequency_cap: int = 12
    tenure_weight: float = 0.3
    tenure_cap_years: float = 10.0
    dp_multiplier: float = 1.2
    # retention segments by days since the last order, each from its first day: active up to 60, lukewarm
    # 61-180 ("da oltre 60 giorni"), cold 181-1,460, lost from 1,461
    lukewarm_from_days: int = 61
    cold_from_days: int = 181
    lost_from_days: int = 1461
    # incremental runs re-read this much before the watermark, since HubSpot search lags writes
    lookback_minutes: int = 60
    # weekday (0 = Monday) of the scheduled full run that rebuilds the ledger
    full_run_weekday: int = 6


class ColdRules(BaseModel):
    # cold: last order more than `more_than_days` and at most `max_days` days before as_of ("da oltre 180
    # giorni", up to four years)
    more_than_days: int = 180
    max_days: int = 1460
    excluded_categories: list[str] = Field(default_factory=lambda: ["public_administration", "end_user"])
    # the Wake Up queue: at most this many new deals per Italian business day (none on other days), the most
    # valuable first by the revenue of the last `priority_revenue_months` months, then the latest last order
    daily_new_deals: int = 40
    priority_revenue_months: int = 48
    # the company property cold_segment keeps "true"/"false" (only changes are written), and the dynamic
    # HubSpot list of the companies where it is true, which infra/portal.py creates
    eligible_property: str = "wakeup_eligible"
    eligible_list: str = "CLIENTI FREDDI"
    stale_new_deal_days: int = 14
    recontact_min_sirank: int = 5000  # strictly above
    # recontact window in calendar months: last order before as_of - 4 months and after as_of - 12 months
    recontact_more_than_months: int = 4
    recontact_less_than_months: int = 12
    recontact_due_business_days: int = 3
    # the series: task 1; no owner activity this many business days later -> task 2 ("secondo promemoria");
    # still none `reactivation_after_days` calendar days after task 1 -> the reactivation email
    recontact_second_reminder_business_days: int = 5
    recontact_cooldown_days: int = 90
    reactivation_after_days: int = 10
    reactivation_template: str = "riattivazione"
    # revenue window of the R12 figure written on each Wake Up deal
    r12_window_days: int = 365
    # orders closed this many days back are read from deals, not only from `last_purchase_date` (which
    # sirank_recalc may not have refreshed yet), for the "order -> Riattivato" automation
    recent_order_days: int = 7
    # owner email -> booking page (HubSpot meetings, Calendly...): the reactivation email offers it, else a reply
    meeting_links: dict[str, str] = Field(default_factory=dict)


class NurtureRules(BaseModel):
    # enrolment from day 61 without orders ("da oltre 60 giorni")
    start_days: int = 61
    enrol_window_days: int = 15
    step_interval_days: int = 15
    recipients: Literal["primary", "all"] = "primary"
    ecommerce_url: str = "https://shop.sicomputer.it"
    survey_url: str = "https://shop.sicomputer.it/sondaggio"
    coupon_prefix: str = "SICOM"
    coupon_valid_days: int = 45
    # HMAC key the coupon codes are derived from (company + spell); a run that sends refuses one shorter than
    # COUPON_SECRET_MIN_LENGTH, since a short key makes the codes guessable
    coupon_secret: str = ""


COUPON_SECRET_MIN_LENGTH = 32
COUPON_SECRET_VARIABLE = "FLYWHEEL_NURTURE__COUPON_SECRET"


class MailRules(BaseModel):
    # From of the outbox mail (SES takes its own from `ses://REGION?from=`, HubSpot the marketing email's)
    sender: str = "SiComputer <noreply@sicomputer.it>"
    # HMAC key of the unsubscribe links (contact + expiry); emails are not sent while it is shorter than
    # COUPON_SECRET_MIN_LENGTH, since every email must carry a link nobody can forge for another contact
    unsubscribe_secret: str = ""
    # where the `unsubscribe` entry answers; "" = FLYWHEEL_PUBLIC_URL + "/unsubscribe"
    unsubscribe_url: str = ""
    # how long a link keeps working after the email went out (people click old emails)
    unsubscribe_valid_days: int = 365
    # templates sent for the Wake Up pipeline: their Reply-To is the sales assistant, not the company owner
    assistant_templates: list[str] = Field(default_factory=list)


UNSUBSCRIBE_SECRET_VARIABLE = "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET"


def unsubscribe_link_settings(settings: Settings) -> tuple[str, str]:
    """(secret, URL of the unsubscribe entry) for signing links; ConfigurationError when either is missing, since
    no email may go out without a working unsubscribe link. Names the settings, never a secret's value."""
    secret = settings.mail.unsubscribe_secret.strip()
    if len(secret) < COUPON_SECRET_MIN_LENGTH:
        raise ConfigurationError(
            f"{UNSUBSCRIBE_SECRET_VARIABLE} must be set to a random secret of at least {COUPON_SECRET_MIN_LENGTH} "
            "characters before emails can be sent (every email carries a signed unsubscribe link)"
        )
    url = settings.mail.unsubscribe_url.strip() or (
        f"{settings.public_url.strip().rstrip('/')}/unsubscribe" if settings.public_url.strip() else ""
    )
    if not url.startswith(("https://", "http://")):
        raise ConfigurationError(
            "set FLYWHEEL_PUBLIC_URL (or FLYWHEEL_MAIL__UNSUBSCRIBE_URL) before emails can be sent: every email "
            "links the unsubscribe entry"
        )
    return secret, url


def require_coupon_secret(settings: Settings) -> None:
    """Raise ConfigurationError unless the nurture coupon secret is long enough to keep the codes unguessable."""
    if len(settings.nurture.coupon_secret.strip()) < COUPON_SECRET_MIN_LENGTH:
        raise ConfigurationError(
            f"{COUPON_SECRET_VARIABLE} must be set to a random secret of at least {COUPON_SECRET_MIN_LENGTH} "
            "characters before nurture emails can be sent (coupon codes are derived from it)"
        )


class CashbackRules(BaseModel):
    # the day of the month the "use your cashback" reminder goes out (Europe/Rome)
    reminder_day: int = Field(default=21, ge=1, le=28)
    # month-to-date revenue from which the nudge goes out (inclusive), and the cashback threshold (exclusive)
    nudge_from_eur: float = 3500.0
    threshold_eur: float = 5000.0


class DpRules(BaseModel):
    # rolling 12-month revenue (SiRank's R12 window) a company needs for each D&P level
    thresholds_eur: dict[str, float] = Field(
        default_factory=lambda: {"bronze": 5000.0, "silver": 15000.0, "gold": 40000.0}
    )
    # a progress nudge goes out when R12 is within this share below the next level's threshold
    near_pct: float = 10.0
    # at most one progress nudge per company and level in this many days
    nudge_cooldown_days: int = 30
    # companies whose `dp_level` is `none` are nudged toward bronze too (an empty `dp_level` never is)
    nudge_non_members: bool = True


class ReportRules(BaseModel):
    # the report's monthly retention table: this many months, the current one last
    months: int = 12
    # active customer at day d: an order in (d - active_window_days, d]
    active_window_days: int = 365
    # a month's revenue is "reactivated" when the customer ordered after more than this many days without orders
    reactivated_after_days: int = 180
    # silent customers: last order more than this many days before as_of
    silent_days: int = 30
    # products sold: line items of the orders of the last this many days, as_of included
    products_days: int = 90
    # an order is attributed to the flows that touched its company on its day or in this many days before
    attribution_window_days: int = 30


# HubSpot's values of the contact property `hs_legal_basis`, all but "Not applicable", spelled as HubSpot does
# (its dashes are inconsistent; the consent gate compares them dash-, case- and space-insensitively)
HUBSPOT_LEGAL_BASES_ALLOWING_EMAIL: tuple[str, ...] = (
    "Legitimate interest – prospect/lead",
    "Legitimate interest – existing customer",
    "Legitimate interest - other",
    "Performance of a contract",
    "Freely given consent from contact",
)


class ConsentRules(BaseModel):
    # a contact may be emailed when any of its `hs_legal_basis` values (a multiple checkbox) is one of these
    allowed_legal_bases: list[str] = Field(default_factory=lambda: list(HUBSPOT_LEGAL_BASES_ALLOWING_EMAIL))


class CartRules(BaseModel):
    # `hs_external_status` values (the e-commerce connector's own, compared without case) of a cart that was
    # bought, and of one that will never be bought; any other status is still open
    checked_out_statuses: list[str] = Field(
        default_factory=lambda: ["converted", "checkout_completed", "completed", "paid"]
    )
    closed_statuses: list[str] = Field(default_factory=lambda: ["cancelled", "expired"])
    # abandoned: open, total above 0 and unchanged for at least this long
    abandoned_after_hours: int = 24
    # only carts changed this many days before the run are searched
    lookback_days: int = 7
    # a cart is reminded once per version, and at most once in this many hours
    reminder_cooldown_hours: int = 72
    reminder_template: str = "carrello_abbandonato"
    # the owner is alerted when the cart's total in EUR is strictly above this
    alert_above_eur: float = 2000.0
    # EUR for one unit of each other currency (`{"USD": 0.92}`); a cart in a currency without a rate is skipped
    eur_rates: dict[str, float] = Field(default_factory=dict)
    # the currency of a cart without `hs_currency_code`
    default_currency: str = "EUR"


class FidoRules(BaseModel):
    # companies listed in an owner's weekly digest: available credit at least this (EUR), at most `max_companies`
    min_available_credit: float = 1000.0
    max_companies: int = 10
    # weekday (0 = Monday) of the weekly digest
    weekday: int = Field(default=0, ge=0, le=6)


class CalendarRules(BaseModel):
    # days the company is closed besides weekends and national holidays, as a JSON list: dates "2026-12-24",
    # ranges "2026-08-10..2026-08-21" (both ends included) and days of every year "12-24"; task due dates and the
    # Wake Up pace skip them
    closing_days: list[str] = Field(default_factory=list)

    @field_validator("closing_days")
    @classmethod
    def _closing_days_parse(cls, entries: list[str]) -> list[str]:
        BusinessCalendar.with_closing_days(entries)  # InvalidClosingDay (a ValueError) names the bad entry
        return entries

    def business_calendar(self) -> BusinessCalendar:
        """The company's calendar: national holidays plus these closing days."""
        return BusinessCalendar.with_closing_days(self.closing_days)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLYWHEEL_",
        env_nested_delimiter="__",
        env_file=os.environ.get("FLYWHEEL_ENV_FILE"),
        extra="ignore",
    )

    hubspot_api_base: str = Field(
        default="https://api.hubapi.com",
        validation_alias=AliasChoices("HUBSPOT_API_BASE", "FLYWHEEL_HUBSPOT_API_BASE"),
    )
    hubspot_access_token: str = Field(
        default="", validation_alias=AliasChoices("HUBSPOT_ACCESS_TOKEN", "FLYWHEEL_HUBSPOT_ACCESS_TOKEN")
    )
    # HubSpot app client secret, for v3 webhook signatures
    hubspot_client_secret: str = Field(
        default="", validation_alias=AliasChoices("HUBSPOT_CLIENT_SECRET", "FLYWHEEL_HUBSPOT_CLIENT_SECRET")
    )
    # calls per 10 seconds the client allows itself (HubSpot's per-app burst limit at the account's tier)
    hubspot_rate_limit: int = Field(
        default=190, validation_alias=AliasChoices("HUBSPOT_RATE_LIMIT", "FLYWHEEL_HUBSPOT_RATE_LIMIT")
    )
    hubspot_max_retries: int = 6
    hubspot_timeout_seconds: float = 30.0

    state: str = "sqlite:///.flywheel/state.db"
    mailer: str = "outbox://.flywheel/outbox"
    # HubSpot marketing email id for a template, for the hubspot mailer; a template not listed is sent with the
    # email `python -m infra.portal` made for it, found by its name "flywheel: <template>"
    hubspot_email_ids: dict[str, int] = Field(default_factory=dict)
    timezone: str = "Europe/Rome"
    # the token the run endpoints require in the X-Flywheel-Token header; "" with auth="token" refuses every call
    api_token: str = ""
    # "iam": Cloud Functions IAM (the invoker role) guards the run endpoints, which then need no api_token
    auth: Literal["token", "iam"] = "token"
    # the base of the URL HubSpot calls (https://REGION-PROJECT.cloudfunctions.net), for v3 webhook signatures
    # ("" = the URL the request arrived at)
    public_url: str = ""
    # the as_of a run that changes anything may take, in days around today (a dry run: 2000-01-01 to a year ahead)
    as_of_past_days: int = 31
    as_of_future_days: int = 1
    # how long an effect reservation is held before another run may reconcile and retry it
    effect_lease_seconds: int = 600
    # how long one run may take before the platform stops it (Cloud Functions' timeout, 540 s, less a margin
    # to checkpoint): retries never sleep past it, and the run answers 503 to be retried instead; 0 = no limit
    run_budget_seconds: float = 500.0

    portal: PortalContract = Field(default_factory=PortalContract)
    sirank: SirankRules = Field(default_factory=SirankRules)
    cold: ColdRules = Field(default_factory=ColdRules)
    nurture: NurtureRules = Field(default_factory=NurtureRules)
    consent: ConsentRules = Field(default_factory=ConsentRules)
    mail: MailRules = Field(default_factory=MailRules)
    cashback: CashbackRules = Field(default_factory=CashbackRules)
    dp: DpRules = Field(default_factory=DpRules)
    cart: CartRules = Field(default_factory=CartRules)
    fido: FidoRules = Field(default_factory=FidoRules)
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    report: ReportRules = Field(default_factory=ReportRules)


def load_settings() -> Settings:
    return Settings()


SECRET_FIELDS = frozenset(
    {"hubspot_access_token", "hubspot_client_secret", "api_token", "coupon_secret", "unsubscribe_secret"}
)


def reference(settings: Settings, *, mask_secrets: bool = True) -> list[tuple[str, str]]:
    """Every setting as (environment variable, JSON value), for `flywheel config` and the README."""
    import json

    rows: list[tuple[str, str]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                walk(value, f"{prefix}{name.upper()}__")
                continue
            alias = field.validation_alias
            env = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{name.upper()}"
            shown = "***" if mask_secrets and name in SECRET_FIELDS and value else json.dumps(value, ensure_ascii=False)
            rows.append((str(env), shown))

    walk(settings, "FLYWHEEL_")
    return rows
