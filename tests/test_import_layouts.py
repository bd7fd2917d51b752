"""Column matching: the header rows other tools really export, and matching by name, label and custom field.

No database: suggest_mapping takes the targets as {key: label}, as imports.mapping.targets() gives them.
"""

from __future__ import annotations

from rapport.imports.layouts import detect_layout, suggest_mapping

ADDRESS = {
    "street": "Street",
    "city": "City",
    "region": "Region",
    "postal_code": "Postal code",
    "country": "Country",
}
PEOPLE = {
    "first_name": "First name",
    "last_name": "Last name",
    "emails": "Email",
    "phones": "Phone",
    "job_title": "Job title",
    "company": "Company",
    "company:source_id": "Company (by source id)",
    "lifecycle_stage": "Lifecycle stage",
    "lead_status": "Lead status",
    "source": "Source",
    "owner": "Owner",
    "tags": "Tags",
    "notes": "Notes",
    **ADDRESS,
    "full_name": "Full name (split into first and last)",
    "cf_birthday": "Birthday",
    "source_id": "Id in the source system",
}
COMPANIES = {
    "name": "Name",
    "domain": "Domain",
    "website": "Website",
    "industry": "Industry",
    "size_band": "Size band",
    "phone": "Phone",
    **ADDRESS,
    "parent": "Parent",
    "owner": "Owner",
    "tags": "Tags",
    "notes": "Notes",
    "source_id": "Id in the source system",
}
DEALS = {
    "title": "Title",
    "pipeline": "Pipeline",
    "stage": "Stage",
    "status": "Status",
    "amount": "Amount",
    "currency": "Currency",
    "expected_close_date": "Expected close date",
    "probability": "Probability",
    "company": "Company",
    "source": "Source",
    "lost_reason": "Lost reason",
    "closed_on": "Closed on",
    "owner": "Owner",
    "tags": "Tags",
    "notes": "Notes",
    "source_id": "Id in the source system",
}
ACTIVITIES = {
    "kind": "Kind",
    "subject": "Subject",
    "body": "Body",
    "due_at": "Due at",
    "start_at": "Start at",
    "end_at": "End at",
    "duration_minutes": "Duration minutes",
    "done": "Done",
    "assignee": "Assignee",
    "priority": "Priority",
    "owner": "Owner",
    "tags": "Tags",
    "notes": "Notes",
    "source_id": "Id in the source system",
}
PRODUCTS = {
    "name": "Name",
    "sku": "Sku",
    "description": "Description",
    "tax_rate": "Tax rate",
    "active": "Active",
    "owner": "Owner",
    "tags": "Tags",
    "notes": "Notes",
    "source_id": "Id in the source system",
}


def mapped(type_key: str, header_row: str, fields: dict[str, str]) -> dict[str, tuple[str | None, str]]:
    headers = header_row.split(",")
    suggestions = suggest_mapping(type_key, headers, fields)
    assert [s.column for s in suggestions] == list(range(len(headers)))
    assert [s.header for s in suggestions] == headers
    return {s.header: (s.target, s.reason) for s in suggestions}


def targets(result: dict[str, tuple[str | None, str]]) -> dict[str, str | None]:
    return {h: t for h, (t, _) in result.items()}


def no_target_twice(result: dict[str, tuple[str | None, str]]) -> None:
    single = [t for t, _ in result.values() if t and t not in ("emails", "phones", "tags")]
    assert len(single) == len(set(single)), single


# --- the tools' own exports ------------------------------------------------------------------------


def test_hubspot_contacts_export() -> None:
    row = (
        "Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Job Title,Company Name,"
        "Associated Company,Contact owner,Lifecycle Stage,Lead Status,Create Date,Street Address,City,"
        "State/Region,Postal Code,Country/Region"
    )
    result = mapped("people", row, PEOPLE)
    assert targets(result) == {
        "Record ID": "source_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "emails",
        "Phone Number": "phones",
        "Mobile Phone Number": "phones",
        "Job Title": "job_title",
        "Company Name": "company",
        "Associated Company": None,  # the company is Company Name's: never two columns on one target
        "Contact owner": "owner",
        "Lifecycle Stage": "lifecycle_stage",
        "Lead Status": "lead_status",
        "Create Date": None,
        "Street Address": "street",
        "City": "city",
        "State/Region": "region",
        "Postal Code": "postal_code",
        "Country/Region": "country",
    }
    assert result["Phone Number"][1] == "HubSpot layout"
    assert result["Contact owner"][1] == "HubSpot layout"
    no_target_twice(result)


def test_hubspot_companies_and_deals() -> None:
    companies = mapped(
        "companies",
        "Record ID,Company name,Company Domain Name,Website URL,Phone Number,Industry,Company owner,City,"
        "Country/Region",
        COMPANIES,
    )
    assert targets(companies) == {
        "Record ID": "source_id",
        "Company name": "name",
        "Company Domain Name": "domain",
        "Website URL": "website",
        "Phone Number": "phone",
        "Industry": "industry",
        "Company owner": "owner",
        "City": "city",
        "Country/Region": "country",
    }
    deals = mapped(
        "deals",
        "Record ID,Deal Name,Deal Stage,Pipeline,Amount,Close Date,Deal owner,Associated Company,Deal probability",
        DEALS,
    )
    assert targets(deals) == {
        "Record ID": "source_id",
        "Deal Name": "title",
        "Deal Stage": "stage",
        "Pipeline": "pipeline",
        "Amount": "amount",
        "Close Date": "expected_close_date",
        "Deal owner": "owner",
        "Associated Company": "company",
        "Deal probability": None,  # HubSpot writes 0.4 where a deal's probability is 40
    }
    assert deals["Deal Name"][1] == "HubSpot layout"


def test_salesforce_contacts_report_and_data_loader_names() -> None:
    report = mapped(
        "people",
        "Contact ID,Salutation,First Name,Last Name,Title,Account Name,Email,Phone,Mobile,Mailing Street,"
        "Mailing City,Mailing State/Province,Mailing Zip/Postal Code,Mailing Country,Contact Owner,Lead Source,"
        "Description",
        PEOPLE,
    )
    assert targets(report) == {
        "Contact ID": "source_id",
        "Salutation": None,
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "job_title",
        "Account Name": "company",
        "Email": "emails",
        "Phone": "phones",
        "Mobile": "phones",
        "Mailing Street": "street",
        "Mailing City": "city",
        "Mailing State/Province": "region",
        "Mailing Zip/Postal Code": "postal_code",
        "Mailing Country": "country",
        "Contact Owner": "owner",
        "Lead Source": "source",
        "Description": "notes",
    }
    assert report["Mailing Zip/Postal Code"][1] == "Salesforce layout"
    loader = mapped("people", "Id,FirstName,LastName,Email,MobilePhone,MailingPostalCode,LeadSource", PEOPLE)
    assert targets(loader) == {
        "Id": "source_id",
        "FirstName": "first_name",
        "LastName": "last_name",
        "Email": "emails",
        "MobilePhone": "phones",
        "MailingPostalCode": "postal_code",
        "LeadSource": "source",
    }
    assert loader["FirstName"][1] == "Salesforce layout"


def test_salesforce_opportunities_and_accounts() -> None:
    deals = mapped(
        "deals",
        "Opportunity ID,Opportunity Name,Account Name,Amount,Close Date,Stage,Probability (%),Opportunity Owner,"
        "Opportunity Currency",
        DEALS,
    )
    assert targets(deals) == {
        "Opportunity ID": "source_id",
        "Opportunity Name": "title",
        "Account Name": "company",
        "Amount": "amount",
        "Close Date": "expected_close_date",
        "Stage": "stage",
        "Probability (%)": "probability",
        "Opportunity Owner": "owner",
        "Opportunity Currency": "currency",
    }
    accounts = mapped(
        "companies",
        "Account ID,Account Name,Type,Website,Billing Street,Billing City,Billing State/Province,"
        "Billing Zip/Postal Code,Billing Country,Parent Account,Account Owner",
        COMPANIES,
    )
    assert targets(accounts) == {
        "Account ID": "source_id",
        "Account Name": "name",
        "Type": None,
        "Website": "website",
        "Billing Street": "street",
        "Billing City": "city",
        "Billing State/Province": "region",
        "Billing Zip/Postal Code": "postal_code",
        "Billing Country": "country",
        "Parent Account": "parent",
        "Account Owner": "owner",
    }


def test_pipedrive_people_deals_activities_products() -> None:
    people = mapped(
        "people",
        "Person - ID,Person - Name,Person - Label,Person - Organization,Person - Email - Work,"
        "Person - Email - Home,Person - Phone - Work,Person - Phone - Mobile,Person - Owner,Person - Job title",
        PEOPLE,
    )
    assert targets(people) == {
        "Person - ID": "source_id",
        "Person - Name": "full_name",  # flagged for splitting: there are no first/last name columns
        "Person - Label": "tags",
        "Person - Organization": "company",
        "Person - Email - Work": "emails",
        "Person - Email - Home": "emails",
        "Person - Phone - Work": "phones",
        "Person - Phone - Mobile": "phones",
        "Person - Owner": "owner",
        "Person - Job title": "job_title",
    }
    assert people["Person - Name"][1] == "Pipedrive layout"
    both = mapped("people", "Person - Name,Person - First name,Person - Last name", PEOPLE)
    assert targets(both) == {
        "Person - Name": None,
        "Person - First name": "first_name",
        "Person - Last name": "last_name",
    }

    deals = mapped(
        "deals",
        "Deal - ID,Deal - Title,Deal - Value,Deal - Currency of value,Deal - Organization,Deal - Contact person,"
        "Deal - Owner,Deal - Stage,Deal - Pipeline,Deal - Expected close date,Deal - Status,Deal - Lost reason",
        DEALS,
    )
    assert targets(deals) == {
        "Deal - ID": "source_id",
        "Deal - Title": "title",
        "Deal - Value": "amount",
        "Deal - Currency of value": "currency",
        "Deal - Organization": "company",
        "Deal - Contact person": None,
        "Deal - Owner": "owner",
        "Deal - Stage": "stage",
        "Deal - Pipeline": "pipeline",
        "Deal - Expected close date": "expected_close_date",
        "Deal - Status": "status",
        "Deal - Lost reason": "lost_reason",
    }
    activities = mapped(
        "activities",
        "Activity - ID,Activity - Subject,Activity - Type,Activity - Due date,Activity - Assigned to user,"
        "Activity - Note,Activity - Done",
        ACTIVITIES,
    )
    assert targets(activities) == {
        "Activity - ID": "source_id",
        "Activity - Subject": "subject",
        "Activity - Type": "kind",
        "Activity - Due date": "due_at",
        "Activity - Assigned to user": "assignee",
        "Activity - Note": "body",
        "Activity - Done": "done",
    }
    products = mapped("products", "Product - ID,Product - Name,Product - Product code,Product - Tax", PRODUCTS)
    assert targets(products) == {
        "Product - ID": "source_id",
        "Product - Name": "name",
        "Product - Product code": "sku",
        "Product - Tax": "tax_rate",
    }


def test_zoho_contacts_and_deals() -> None:
    people = mapped(
        "people",
        "Record Id,Contact Owner,First Name,Last Name,Account Name,Email,Secondary Email,Title,Phone,Mobile,"
        "Mailing Street,Mailing City,Mailing State,Mailing Zip,Mailing Country,Description,Tag",
        PEOPLE,
    )
    assert targets(people) == {
        "Record Id": "source_id",
        "Contact Owner": "owner",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Account Name": "company",
        "Email": "emails",
        "Secondary Email": "emails",
        "Title": "job_title",
        "Phone": "phones",
        "Mobile": "phones",
        "Mailing Street": "street",
        "Mailing City": "city",
        "Mailing State": "region",
        "Mailing Zip": "postal_code",
        "Mailing Country": "country",
        "Description": "notes",
        "Tag": "tags",
    }
    assert people["Mailing Zip"][1] == "Zoho layout"
    deals = mapped(
        "deals",
        "Record Id,Deal Owner,Deal Name,Amount,Closing Date,Stage,Account Name,Contact Name,Probability (%)",
        DEALS,
    )
    assert targets(deals) == {
        "Record Id": "source_id",
        "Deal Owner": "owner",
        "Deal Name": "title",
        "Amount": "amount",
        "Closing Date": "expected_close_date",
        "Stage": "stage",
        "Account Name": "company",
        "Contact Name": None,
        "Probability (%)": "probability",
    }
    assert deals["Closing Date"][1] == "Zoho layout"


GOOGLE_OLD = (
    "Name,Given Name,Additional Name,Family Name,Yomi Name,Given Name Yomi,Additional Name Yomi,Family Name Yomi,"
    "Name Prefix,Name Suffix,Initials,Nickname,Short Name,Maiden Name,Birthday,Gender,Location,Billing Information,"
    "Directory Server,Mileage,Occupation,Hobby,Sensitivity,Priority,Subject,Notes,Group Membership,E-mail 1 - Type,"
    "E-mail 1 - Value,E-mail 2 - Type,E-mail 2 - Value,Phone 1 - Type,Phone 1 - Value,Address 1 - Type,"
    "Address 1 - Formatted,Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,"
    "Address 1 - Postal Code,Address 1 - Country,Address 1 - Extended Address,Organization 1 - Type,"
    "Organization 1 - Name,Organization 1 - Title,Website 1 - Type,Website 1 - Value"
)


def test_google_contacts_older_export() -> None:
    result = mapped("people", GOOGLE_OLD, PEOPLE)
    wanted: dict[str, str | None] = {
        "Given Name": "first_name",
        "Family Name": "last_name",
        "Notes": "notes",
        "E-mail 1 - Value": "emails",
        "E-mail 2 - Value": "emails",
        "Phone 1 - Value": "phones",
        "Address 1 - Street": "street",
        "Address 1 - City": "city",
        "Address 1 - Region": "region",
        "Address 1 - Postal Code": "postal_code",
        "Address 1 - Country": "country",
        "Organization 1 - Name": "company",
        "Organization 1 - Title": "job_title",
        # Google's Birthday is no built-in field of a person, but this installation has a custom field for it.
        "Birthday": "cf_birthday",
    }
    got = {h: t for h, t in targets(result).items() if t}
    assert got == {h: t for h, t in wanted.items() if t}
    assert result["Name"] == (None, "")  # first and last name columns exist: no split needed
    assert result["E-mail 1 - Value"][1] == "Google Contacts layout"
    no_target_twice(result)


def test_google_contacts_newer_export() -> None:
    row = (
        "First Name,Middle Name,Last Name,Phonetic First Name,Nickname,File As,Birthday,Notes,Labels,"
        "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,"
        "Organization Name,Organization Title,Organization Department"
    )
    result = mapped("people", row, PEOPLE)
    assert {h: t for h, t in targets(result).items() if t} == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Notes": "notes",
        "E-mail 1 - Value": "emails",
        "Phone 1 - Value": "phones",
        "Phone 2 - Value": "phones",
        "Organization Name": "company",
        "Organization Title": "job_title",
        "Birthday": "cf_birthday",
    }
    assert result["Labels"] == (None, "")  # Google's groups, not tags
    assert result["Organization Name"][1] == "Google Contacts layout"


OUTLOOK_ROW = (
    "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,Business Street 2,"
    "Business City,Business State,Business Postal Code,Business Country/Region,Home Street,Home City,Home State,"
    "Home Postal Code,Home Country/Region,Business Fax,Business Phone,Business Phone 2,Home Phone,Mobile Phone,"
    "Birthday,Categories,E-mail Address,E-mail Type,E-mail Display Name,E-mail 2 Address,Notes,Web Page"
)


def test_outlook_export() -> None:
    result = mapped("people", OUTLOOK_ROW, PEOPLE)
    assert {h: t for h, t in targets(result).items() if t} == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company": "company",
        "Job Title": "job_title",
        "Business Street": "street",
        "Business City": "city",
        "Business State": "region",
        "Business Postal Code": "postal_code",
        "Business Country/Region": "country",
        "Business Phone": "phones",
        "Business Phone 2": "phones",
        "Home Phone": "phones",
        "Mobile Phone": "phones",
        "Birthday": "cf_birthday",
        "Categories": "tags",
        "E-mail Address": "emails",
        "E-mail 2 Address": "emails",
        "Notes": "notes",
    }
    # Outlook's Title is Mr./Ms.: not the job title, whatever the generic names say.
    assert result["Title"] == (None, "")
    # The home address is Outlook's second choice: business wins, home stays unmapped.
    assert result["Home City"] == (None, "")
    assert result["E-mail Address"][1] == "Outlook layout"
    no_target_twice(result)


def test_outlook_home_address_when_there_is_no_business_one() -> None:
    result = mapped("people", "First Name,Last Name,E-mail Address,Home Street,Home City,Home Postal Code", PEOPLE)
    assert targets(result)["Home City"] == "city"
    assert result["Home Street"] == ("street", "Outlook layout")


def test_detect_layout() -> None:
    assert detect_layout(OUTLOOK_ROW.split(","))
    assert detect_layout(GOOGLE_OLD.split(",")).name == "Google Contacts"  # type: ignore[union-attr]
    assert detect_layout(OUTLOOK_ROW.split(",")).name == "Outlook"  # type: ignore[union-attr]
    assert detect_layout(["Name", "Email", "Phone"]) is None


# --- names, labels, custom fields -----------------------------------------------------------------


def test_names_are_compared_without_case_accents_punctuation_or_plural() -> None:
    result = mapped(
        "people",
        "PRÉNOM,Nom,E-mail,Telephone numbers,Société,Emails,Tags,  job_title  ,Surname",
        PEOPLE,
    )
    assert targets(result) == {
        "PRÉNOM": "first_name",
        "Nom": "last_name",
        "E-mail": "emails",
        "Telephone numbers": None,
        "Société": "company",
        "Emails": "emails",
        "Tags": "tags",
        "  job_title  ": "job_title",
        "Surname": None,  # last_name is Nom's already (the leftmost of two equal matches wins)
    }
    assert result["E-mail"] == ("emails", "same name")
    assert result["  job_title  "] == ("job_title", "same name")
    assert result["PRÉNOM"] == ("first_name", "similar name")


def test_email_address_and_other_common_names() -> None:
    result = mapped("people", "Email Address,Mobile,Organisation,Position,Full Name,Zip", PEOPLE)
    assert targets(result) == {
        "Email Address": "emails",
        "Mobile": "phones",
        "Organisation": "company",
        "Position": "job_title",
        "Full Name": "full_name",
        "Zip": "postal_code",
    }
    assert result["Full Name"][1] == "a full name, split into first and last name"


def test_custom_fields_by_label_and_key() -> None:
    fields = {**PEOPLE, "cf_shoe_size": "Shoe size", "cf_vat": "VAT number"}
    result = mapped("people", "Shoe Size,vat,cf_vat,Birthday", fields)
    assert result["Shoe Size"] == ("cf_shoe_size", "custom field")
    assert result["cf_vat"] == ("cf_vat", "custom field")  # the exact key beats the key without its prefix
    assert result["vat"] == (None, "")
    assert result["Birthday"] == ("cf_birthday", "custom field")


def test_better_match_wins_a_target() -> None:
    # "Company" is the field's label; "Account" only a common name for it: Company wins, Account is skipped.
    result = mapped("people", "Account,Company", PEOPLE)
    assert result == {"Account": (None, ""), "Company": ("company", "same name")}


def test_targets_the_import_does_not_offer_are_never_suggested() -> None:
    without_address = {k: v for k, v in PEOPLE.items() if k not in ADDRESS}
    result = mapped("people", "First Name,City,Mailing City", without_address)
    assert targets(result) == {"First Name": "first_name", "City": None, "Mailing City": None}


def test_unknown_columns_and_empty_titles() -> None:
    result = mapped("companies", "Name,,Favourite colour,Domain", COMPANIES)
    assert result == {
        "Name": ("name", "same name"),
        "": (None, ""),
        "Favourite colour": (None, ""),
        "Domain": ("domain", "same name"),
    }


def test_full_export_columns_map_back_to_themselves() -> None:
    # Rapport's own list export: the column labels are the fields' labels.
    result = mapped("deals", "ID,Title,Pipeline,Stage,Amount,Currency,Expected close date,Company,Owner", DEALS)
    assert targets(result) == {
        "ID": "source_id",
        "Title": "title",
        "Pipeline": "pipeline",
        "Stage": "stage",
        "Amount": "amount",
        "Currency": "currency",
        "Expected close date": "expected_close_date",
        "Company": "company",
        "Owner": "owner",
    }
