"""The column titles other CRMs and address books write in their export files, per record type: the
data :mod:`rapport.imports.layouts` matches a file's columns with.

A title's value is the target it fills, ``(target, score)`` for a second choice, or None: the column is
known and deliberately not imported (it still matches a custom field of that name).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FULL_NAME = "full_name"
SOURCE_ID = "source_id"
SECONDARY = 85  # a layout's second choice for a target (Outlook's home address when a business one exists)


def norm(text: str) -> str:
    """Case, accents, punctuation and spaces ignored: "E-mail Address" → "emailaddress"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


# Column titles as each tool writes them in its export files. Sources (looked up 2026-11-30): HubSpot's
# contacts/companies/deals exports ("Record ID", "Contact owner", "Company Domain Name", "Associated
# Company", "State/Region", "Country/Region", "Lifecycle Stage"); Salesforce report exports ("Mailing
# State/Province", "Mailing Zip/Postal Code", "Account Name", "Opportunity Name") and its Data Loader's API
# names ("MailingStreet", "StageName"); Pipedrive's exports, every title prefixed by its object ("Person -
# Email - Work", "Organization - Name", "Deal - Expected close date", "Activity - Due date"); Zoho CRM's
# module exports ("Record Id", "Mailing Zip", "Billing Code", "Closing Date", "Secondary Email"); Google
# Contacts' CSV in both its older ("Given Name", "Family Name", "E-mail 1 - Value", "Organization 1 -
# Name") and newer ("First Name", "Organization Name", "E-mail 1 - Label") forms; Outlook's contacts
# export (Outlook contact fields: "E-mail Address", "Business Phone", "Business Street", "Business
# Country/Region", "Title" being the salutation). Seen in public import tools and test fixtures that
# read these files (e.g. okikio/utils packages/csv/fixtures/aliases.json, Pipedrive and Google Contacts
# headers in public code) and in the tools' own help pages (spstechnical.com/outlook_contacts_schema.htm).
# A value of None: the column is known and deliberately not imported.

_Map = dict[str, str | None | tuple[str, int]]

_ADDRESS = ("street", "city", "region", "postal_code", "country")


def _address(prefix_titles: tuple[str, str, str, str, str]) -> _Map:
    return dict(zip(prefix_titles, _ADDRESS, strict=True))


HUBSPOT: dict[str, _Map] = {
    "people": {
        "Record ID": SOURCE_ID,
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "emails",
        "Phone Number": "phones",
        "Mobile Phone Number": "phones",
        "Job Title": "job_title",
        "Company Name": "company",
        "Associated Company": ("company", SECONDARY),
        "Contact owner": "owner",
        "Lifecycle Stage": "lifecycle_stage",
        "Lead Status": "lead_status",
        "Original Source": "source",
        **_address(("Street Address", "City", "State/Region", "Postal Code", "Country/Region")),
    },
    "companies": {
        "Record ID": SOURCE_ID,
        "Company name": "name",
        "Company Domain Name": "domain",
        "Website URL": "website",
        "Phone Number": "phone",
        "Industry": "industry",
        "Company owner": "owner",
        "Parent Company": "parent",
        **_address(("Street Address", "City", "State/Region", "Postal Code", "Country/Region")),
    },
    "deals": {
        "Record ID": SOURCE_ID,
        "Deal Name": "title",
        "Deal Stage": "stage",
        "Pipeline": "pipeline",
        "Amount": "amount",
        "Close Date": "expected_close_date",
        "Deal owner": "owner",
        "Associated Company": "company",
        "Currency": "currency",
        "Deal probability": None,  # a fraction (0.4), where a deal's probability is a percentage
        "Closed Lost Reason": "lost_reason",
    },
    "activities": {
        "Record ID": SOURCE_ID,
        "Task Title": "subject",
        "Task Type": "kind",
        "Due Date": "due_at",
        "Assigned to": "assignee",
        "Notes": "body",
        "Priority": "priority",
    },
    "products": {
        "Record ID": SOURCE_ID,
        "Name": "name",
        "SKU": "sku",
        "Description": "description",
        "Unit price": None,  # a price needs its currency: set it on the product
    },
}

SALESFORCE: dict[str, _Map] = {
    "people": {
        "Contact ID": SOURCE_ID,
        "Lead ID": SOURCE_ID,
        "Id": SOURCE_ID,
        "First Name": "first_name",
        "FirstName": "first_name",
        "Last Name": "last_name",
        "LastName": "last_name",
        "Salutation": None,
        "Email": "emails",
        "Phone": "phones",
        "Mobile": "phones",
        "Mobile Phone": "phones",
        "MobilePhone": "phones",
        "Title": "job_title",
        "Account Name": "company",
        "Company / Account": "company",
        "Contact Owner": "owner",
        "Lead Owner": "owner",
        "Lead Source": "source",
        "LeadSource": "source",
        "Description": "notes",
        **_address(
            ("Mailing Street", "Mailing City", "Mailing State/Province", "Mailing Zip/Postal Code", "Mailing Country")
        ),
        **_address(("MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry")),
    },
    "companies": {
        "Account ID": SOURCE_ID,
        "Id": SOURCE_ID,
        "Account Name": "name",
        "Website": "website",
        "Phone": "phone",
        "Industry": "industry",
        "Account Owner": "owner",
        "Parent Account": "parent",
        "Description": "notes",
        "Type": None,
        **_address(
            ("Billing Street", "Billing City", "Billing State/Province", "Billing Zip/Postal Code", "Billing Country")
        ),
        **_address(("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry")),
    },
    "deals": {
        "Opportunity ID": SOURCE_ID,
        "Id": SOURCE_ID,
        "Opportunity Name": "title",
        "Account Name": "company",
        "Amount": "amount",
        "Close Date": "expected_close_date",
        "CloseDate": "expected_close_date",
        "Stage": "stage",
        "StageName": "stage",
        "Probability (%)": "probability",
        "Opportunity Owner": "owner",
        "Opportunity Currency": "currency",
        "CurrencyIsoCode": "currency",
        "Lead Source": "source",
        "Description": "notes",
    },
    "activities": {
        "Activity ID": SOURCE_ID,
        "Task ID": SOURCE_ID,
        "Subject": "subject",
        "Due Date": "due_at",
        "ActivityDate": "due_at",
        "Assigned": "assignee",
        "Assigned To": "assignee",
        "Comments": "body",
        "Description": "body",
        "Priority": "priority",
    },
    "products": {
        "Product ID": SOURCE_ID,
        "Product Name": "name",
        "Product Code": "sku",
        "ProductCode": "sku",
        "Product Description": "description",
        "Description": "description",
        "Active": "active",
        "IsActive": "active",
        "Product Family": None,
    },
}

_PD_ORG_ADDRESS = tuple(
    f"Organization - Address - {part} of Address"
    for part in ("Street/road name", "City/town/village/locality", "State/county", "ZIP/Postal code", "Country")
)

PIPEDRIVE: dict[str, _Map] = {
    "people": {
        "Person - ID": SOURCE_ID,
        "Person - Name": FULL_NAME,
        "Person - First name": "first_name",
        "Person - Last name": "last_name",
        "Person - Email": "emails",
        "Person - Email - Work": "emails",
        "Person - Email - Home": "emails",
        "Person - Email - Other": "emails",
        "Person - Phone": "phones",
        "Person - Phone - Work": "phones",
        "Person - Phone - Mobile": "phones",
        "Person - Phone - Home": "phones",
        "Person - Phone - Other": "phones",
        "Person - Organization": "company",
        "Person - Owner": "owner",
        "Person - Job title": "job_title",
        "Person - Title": "job_title",
        "Person - Label": "tags",
        "Person - Labels": "tags",
    },
    "companies": {
        "Organization - ID": SOURCE_ID,
        "Organization - Name": "name",
        "Organization - Owner": "owner",
        "Organization - Website": "website",
        "Organization - Industry": "industry",
        "Organization - Label": "tags",
        "Organization - Labels": "tags",
        "Organization - Address": None,  # the whole address in one line: its parts follow
        **_address(_PD_ORG_ADDRESS),  # type: ignore[arg-type]
    },
    "deals": {
        "Deal - ID": SOURCE_ID,
        "Deal - Title": "title",
        "Deal - Value": "amount",
        "Deal - Currency": "currency",
        "Deal - Currency of value": "currency",
        "Deal - Organization": "company",
        "Organization": ("company", SECONDARY),
        "Deal - Owner": "owner",
        "Deal - Stage": "stage",
        "Deal - Pipeline": "pipeline",
        "Deal - Expected close date": "expected_close_date",
        "Deal - Status": "status",
        "Deal - Probability": "probability",
        "Deal - Lost reason": "lost_reason",
        "Deal - Label": "tags",
        "Deal - Contact person": None,  # deal contacts are linked from the person's page
    },
    "activities": {
        "Activity - ID": SOURCE_ID,
        "Activity - Subject": "subject",
        "Activity - Type": "kind",
        "Activity - Due date": "due_at",
        "Activity - Assigned to user": "assignee",
        "Activity - Note": "body",
        "Activity - Done": "done",
        "Activity - Priority": "priority",
    },
    "products": {
        "Product - ID": SOURCE_ID,
        "Product - Name": "name",
        "Product - Product code": "sku",
        "Product - Description": "description",
        "Product - Tax": "tax_rate",
        "Product - Active": "active",
    },
}

ZOHO: dict[str, _Map] = {
    "people": {
        "Record Id": SOURCE_ID,
        "First Name": "first_name",
        "Last Name": "last_name",
        "Salutation": None,
        "Email": "emails",
        "Secondary Email": "emails",
        "Phone": "phones",
        "Mobile": "phones",
        "Other Phone": "phones",
        "Title": "job_title",
        "Account Name": "company",
        "Company": "company",
        "Contact Owner": "owner",
        "Lead Owner": "owner",
        "Lead Source": "source",
        "Lead Status": "lead_status",
        "Description": "notes",
        "Tag": "tags",
        **_address(("Mailing Street", "Mailing City", "Mailing State", "Mailing Zip", "Mailing Country")),
        **_address(("Street", "City", "State", "Zip Code", "Country")),
    },
    "companies": {
        "Record Id": SOURCE_ID,
        "Account Name": "name",
        "Website": "website",
        "Phone": "phone",
        "Industry": "industry",
        "Account Owner": "owner",
        "Parent Account": "parent",
        "Description": "notes",
        "Tag": "tags",
        **_address(("Billing Street", "Billing City", "Billing State", "Billing Code", "Billing Country")),
    },
    "deals": {
        "Record Id": SOURCE_ID,
        "Deal Name": "title",
        "Amount": "amount",
        "Closing Date": "expected_close_date",
        "Stage": "stage",
        "Pipeline": "pipeline",
        "Account Name": "company",
        "Contact Name": None,
        "Deal Owner": "owner",
        "Probability (%)": "probability",
        "Lead Source": "source",
        "Description": "notes",
        "Currency": "currency",
        "Tag": "tags",
    },
    "activities": {
        "Record Id": SOURCE_ID,
        "Subject": "subject",
        "Due Date": "due_at",
        "Priority": "priority",
        "Task Owner": "assignee",
        "Description": "body",
    },
    "products": {
        "Record Id": SOURCE_ID,
        "Product Name": "name",
        "Product Code": "sku",
        "Description": "description",
        "Product Active": "active",
        "Tax": None,
        "Unit Price": None,
    },
}


def _numbered(pattern: str, target: str | None, first: int = 1, last: int = 9) -> _Map:
    return {pattern.format(n): target for n in range(first, last + 1)}


GOOGLE_CONTACTS: dict[str, _Map] = {
    "people": {
        "Name": FULL_NAME,
        "Given Name": "first_name",
        "Additional Name": None,
        "Family Name": "last_name",
        "First Name": "first_name",
        "Middle Name": None,
        "Last Name": "last_name",
        "Name Prefix": None,
        "Name Suffix": None,
        "Nickname": None,
        "Birthday": None,
        "Notes": "notes",
        "Group Membership": None,  # "* myContacts ::: Friends": Google's groups, not tags
        "Labels": None,
        "Organization 1 - Name": "company",
        "Organization 1 - Title": "job_title",
        "Organization Name": "company",
        "Organization Title": "job_title",
        "Organization Department": None,
        **_numbered("E-mail {} - Value", "emails"),
        **_numbered("E-mail {} - Type", None),
        **_numbered("E-mail {} - Label", None),
        **_numbered("Phone {} - Value", "phones"),
        **_numbered("Phone {} - Type", None),
        **_numbered("Phone {} - Label", None),
        "Address 1 - Formatted": None,
        **_address(
            (
                "Address 1 - Street",
                "Address 1 - City",
                "Address 1 - Region",
                "Address 1 - Postal Code",
                "Address 1 - Country",
            )
        ),
        **_numbered("Address {} - Street", None, 2),
        **_numbered("Address {} - City", None, 2),
        **_numbered("Address {} - Country", None, 2),
        **_numbered("Website {} - Value", None),
    },
}

OUTLOOK: dict[str, _Map] = {
    "people": {
        "First Name": "first_name",
        "Middle Name": None,
        "Last Name": "last_name",
        "Title": None,  # Mr./Ms./Dr.: Outlook's salutation, not a job title
        "Suffix": None,
        "Company": "company",
        "Department": None,
        "Job Title": "job_title",
        **_address(
            ("Business Street", "Business City", "Business State", "Business Postal Code", "Business Country/Region")
        ),
        "Home Street": ("street", SECONDARY),
        "Home City": ("city", SECONDARY),
        "Home State": ("region", SECONDARY),
        "Home Postal Code": ("postal_code", SECONDARY),
        "Home Country/Region": ("country", SECONDARY),
        "Business Street 2": None,
        "Business Street 3": None,
        "Business Phone": "phones",
        "Business Phone 2": "phones",
        "Mobile Phone": "phones",
        "Home Phone": "phones",
        "Home Phone 2": "phones",
        "Other Phone": "phones",
        "Primary Phone": "phones",
        "Company Main Phone": "phones",
        "Business Fax": None,
        "Home Fax": None,
        "E-mail Address": "emails",
        "E-mail 2 Address": "emails",
        "E-mail 3 Address": "emails",
        "E-mail Type": None,
        "E-mail Display Name": None,
        "E-mail 2 Type": None,
        "E-mail 2 Display Name": None,
        "E-mail 3 Type": None,
        "E-mail 3 Display Name": None,
        "Birthday": None,
        "Notes": "notes",
        "Categories": "tags",
        "Web Page": None,
    },
}


@dataclass(frozen=True)
class Layout:
    name: str  # "HubSpot": the reason reads "HubSpot layout"
    columns: dict[str, _Map]
    # Titles (normalised) that only this tool writes: the file is this layout's when it has some.
    marks: frozenset[str]
    # A pattern on the raw titles that marks the layout (Pipedrive's "Person - " prefixes).
    pattern: re.Pattern[str] | None = None


LAYOUTS = [
    Layout(
        "Google Contacts",
        GOOGLE_CONTACTS,
        frozenset(
            norm(t)
            for t in (
                "Given Name",
                "Family Name",
                "Additional Name",
                "E-mail 1 - Value",
                "E-mail 1 - Type",
                "E-mail 1 - Label",
            )
            + ("Phone 1 - Value", "Phone 1 - Type", "Organization 1 - Name", "Organization Name", "Group Membership")
            + ("Address 1 - Street", "Name Prefix", "Name Suffix")
        ),
    ),
    Layout(
        "Outlook",
        OUTLOOK,
        frozenset(
            norm(t)
            for t in ("E-mail Address", "E-mail 2 Address", "E-mail Display Name", "E-mail Type", "Business Phone")
            + ("Business Street", "Business City", "Business Postal Code", "Business Country/Region", "Business Fax")
            + ("Home Street", "Home Phone", "Categories", "Company Main Phone", "Primary Phone")
        ),
    ),
    Layout(
        "Pipedrive",
        PIPEDRIVE,
        frozenset(),
        re.compile(r"^\s*(Person|Organi[sz]ation|Deal|Activity|Product)\s+-\s+\S", re.IGNORECASE),
    ),
    Layout(
        "HubSpot",
        HUBSPOT,
        frozenset(
            norm(t)
            for t in ("Contact owner", "Company owner", "Deal owner", "Lifecycle Stage", "Company Domain Name")
            + ("Associated Company", "Phone Number", "Mobile Phone Number", "State/Region", "Country/Region")
            + ("Street Address", "Deal Stage", "Website URL", "Original Source", "Task Title", "Closed Lost Reason")
        ),
    ),
    Layout(
        "Salesforce",
        SALESFORCE,
        frozenset(
            norm(t)
            for t in ("Contact ID", "Account ID", "Opportunity ID", "Lead ID", "Product ID", "Opportunity Name")
            + ("Opportunity Owner", "Opportunity Currency", "Mailing State/Province", "Mailing Zip/Postal Code")
            + ("Billing State/Province", "Billing Zip/Postal Code", "MailingPostalCode", "BillingPostalCode")
            + ("StageName", "FirstName", "LastName", "IsActive", "Company / Account", "CurrencyIsoCode")
        ),
    ),
    Layout(
        "Zoho",
        ZOHO,
        frozenset(
            norm(t)
            for t in ("Mailing Zip", "Billing Code", "Closing Date", "Secondary Email", "Product Active", "Task Owner")
            + ("Contact Name", "Deal Owner", "Mailing State")
        ),
    ),
]
