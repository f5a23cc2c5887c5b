"""A due step's emails: who may receive them (consent, primary contact or all) and what each one says.

Each email is an effect with its own key (company, spell, step, contact), so the executor sends it exactly
once however many runs decide it.
"""

from __future__ import annotations

from collections.abc import Sequence

from flywheel.domain import nurture as rules_of
from flywheel.domain.italian import italian_date
from flywheel.domain.models import Contact, SendEmail
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.mail.templates import TEMPLATES
from flywheel.services.nurture.coupon import coupon_code, coupon_expiry
from flywheel.services.nurture.plan import DailyRun, Plan
from flywheel.services.reads import contacts_of


def consenting_contacts(daily: DailyRun, company_ids: Sequence[str]) -> dict[str, list[Contact]]:
    """Each company's contacts who may be emailed, in association order: the first is the primary."""
    if not company_ids:
        return {}
    consenting: dict[str, list[Contact]] = {}
    consent = ConsentPolicy.from_settings(daily.ports.settings)
    for company_id, contacts in contacts_of(daily.ports, company_ids).items():
        found = [contact for contact in contacts if may_email(contact, consent)]
        consenting[company_id] = found if daily.rules.recipients == "all" else found[:1]
    return consenting


def step_emails(daily: DailyRun, plan: Plan) -> list[SendEmail]:
    e, step = plan.enrolment, plan.step
    assert step is not None
    template = rules_of.template_for(step)
    return [
        SendEmail(
            company_id=e.company_id,
            contact_id=contact.id,
            template=template,
            key=rules_of.effect_key(e.company_id, e.spell, step, contact.id),
            context=_context(daily, plan, contact, template),
        )
        for contact in plan.recipients
    ]


def _context(daily: DailyRun, plan: Plan, contact: Contact, template: str) -> dict[str, str]:
    e, company, rules = plan.enrolment, plan.company, daily.rules
    expiry = coupon_expiry(e, rules, daily.as_of)
    code = coupon_code(e, rules, daily.as_of)
    owner = daily.ports.schema.owner(company.owner_id if company else None)
    everything = {
        "company_name": company.name if company else f"Azienda {e.company_id}",
        "contact_name": " ".join(n for n in (contact.first_name, contact.last_name) if n) or "Cliente",
        "ecommerce_url": rules.ecommerce_url,
        "survey_url": rules.survey_url,
        "coupon_code": code,
        "coupon_expiry": italian_date(expiry),
        "suspension_date": italian_date(daily.as_of),
        "owner_name": owner.full_name if owner else "il tuo referente commerciale",
    }
    # only what the template uses: with the HubSpot mailer each key becomes a custom property
    required = TEMPLATES.get(template, tuple(everything))
    return {k: v for k, v in everything.items() if k in required}
