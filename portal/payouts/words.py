"""What Stripe's codes mean, in words a coach understands: the information an account still
needs (`requirements.currently_due`) and why a payout failed (`failure_code`)."""

from __future__ import annotations

# What Stripe's requirement codes mean, in words a coach understands. A code is matched
# exactly first, then by its longest listed prefix (`individual.address.city` ->
# `individual.address`).
REQUIREMENT_PHRASES: dict[str, str] = {
    "external_account": "the bank account your payouts go to",
    "business_type": "whether you coach as an individual or as a company",
    "business_profile.url": "your website, or a short description of your coaching",
    "business_profile.product_description": "a short description of your coaching",
    "business_profile.mcc": "the kind of business you run",
    "business_profile.name": "your business name",
    "individual.first_name": "your legal name",
    "individual.last_name": "your legal name",
    "individual.dob": "your date of birth",
    "individual.address": "your home address",
    "individual.email": "your email address",
    "individual.phone": "your phone number",
    "individual.ssn_last_4": "the last four digits of your Social Security number",
    "individual.id_number": "your government tax ID number",
    "individual.verification.document": "a photo of your ID document",
    "individual.verification.additional_document": "a document that proves your address",
    "tos_acceptance": "accepting Stripe's services agreement",
    "company.name": "your company's legal name",
    "company.tax_id": "your company's tax ID",
    "company.address": "your company's address",
    "company.phone": "your company's phone number",
    "representative": "details of the person who runs the company",
    "owners": "details of the company's owners",
    "directors": "details of the company's directors",
    "executives": "details of the company's executives",
}
UNKNOWN_REQUIREMENT = "a few more details Stripe asks for"


def describe_requirements(codes: list[str] | None) -> list[str]:
    """Plain phrases for Stripe's `requirements.currently_due`, each once, in Stripe's order."""
    phrases: list[str] = []
    for code in codes or []:
        phrase = _phrase_for(code)
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases


def _phrase_for(code: str) -> str:
    parts = code.split(".")
    if parts and parts[0].startswith("person_"):
        parts[0] = "representative"  # `person_abc.first_name`: a person on a company account
    for end in range(len(parts), 0, -1):
        phrase = REQUIREMENT_PHRASES.get(".".join(parts[:end]))
        if phrase:
            return phrase
    return UNKNOWN_REQUIREMENT


# Why a payout failed (its `failure_code`), said as the end of "it failed: ...".
FAILURE_WORDS = {
    "account_closed": "the bank account has been closed",
    "account_frozen": "the bank account is frozen",
    "bank_account_restricted": "the bank account does not accept this kind of payment",
    "bank_ownership_changed": "the bank account changed owner",
    "could_not_process": "the bank could not process it",
    "debit_not_authorized": "the bank account does not allow this payment",
    "declined": "the bank declined it",
    "insufficient_funds": "Stripe's balance for you was too low when it was sent",
    "invalid_account_number": "the account number is not valid",
    "incorrect_account_holder_name": "the account holder's name does not match the bank's",
    "invalid_currency": "the bank account cannot receive this currency",
    "no_account": "the bank could not find that account",
    "unsupported_card": "the debit card does not accept payouts",
}
