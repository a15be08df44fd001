"""Texts of the people's data page."""

TEXTS = {
    "people.nav": {"fi": "Henkilötiedot", "en": "People's data"},
    "people.title": {"fi": "Henkilön tiedot", "en": "People's data"},
    "people.intro": {
        "fi": "Hae henkilö puhelinnumerolla tai sähköpostilla. Haku tekee samalla viennin "
        "(tallennetaan palvelimelle ja kirjataan lokiin).",
        "en": "Find a person by phone number or e-mail. Finding also exports their data "
        "(written on the server and audited).",
    },
    "people.tenant": {"fi": "Asiakas", "en": "Tenant"},
    "people.pick_tenant": {
        "fi": "Valitse asiakas osoitteella ?tenant=TUNNUS.",
        "en": "Pick a tenant with ?tenant=SLUG.",
    },
    "people.phone": {"fi": "Puhelinnumero", "en": "Phone number"},
    "people.phone_hint": {
        "fi": "Mikä tahansa kirjoitusasu: 0401234567 = +358401234567.",
        "en": "Any spelling: 0401234567 = +358401234567.",
    },
    "people.email": {"fi": "Sähköposti", "en": "E-mail"},
    "people.reason": {"fi": "Rajoituksen syy", "en": "Reason for the restriction"},
    "people.reason_hint": {"fi": "Vain rajoitukselle.", "en": "For a restriction only."},
    "people.ref": {"fi": "Pyynnön viite", "en": "Request reference"},
    "people.ref_hint": {
        "fi": "Vain poistolle, esim. tiketti.",
        "en": "For an erasure only, e.g. a ticket.",
    },
    "people.find": {"fi": "Näytä ja vie tiedot", "en": "Show and export"},
    "people.restrict": {"fi": "Rajoita käsittelyä", "en": "Restrict processing"},
    "people.unrestrict": {"fi": "Poista rajoitus", "en": "Lift the restriction"},
    "people.erase": {"fi": "Poista tiedot…", "en": "Erase…"},
    "people.erase_confirm": {
        "fi": "Poistetaanko henkilön tiedot?",
        "en": "Erase this person's data?",
    },
    "people.erase_warning": {
        "fi": "Äänitteet poistetaan ja tiedot tyhjennetään pysyvästi. "
        "Poistorekisteriin jää merkintä.",
        "en": "Audio is deleted and the data blanked for good. The erasure ledger keeps an entry.",
    },
    "people.erase_now": {"fi": "Poista pysyvästi", "en": "Erase for good"},
    "people.held": {"fi": "Tallennetut tiedot", "en": "What is held"},
    "people.section": {"fi": "Osa", "en": "Section"},
    "people.count": {"fi": "Määrä", "en": "Count"},
    "people.bundle": {"fi": "Vienti", "en": "Export"},
    "people.expires": {"fi": "Vienti poistuu", "en": "Export expires"},
    "people.raw": {"fi": "Kaikki tiedot", "en": "Everything"},
    "people.erased": {"fi": "Poistettu", "en": "Erased"},
    "people.restricted": {"fi": "Rajoitettu, tapauksia", "en": "Restricted, cases"},
    "people.lifted": {"fi": "Rajoituksia poistettu", "en": "Restrictions lifted"},
    "people.ledger": {"fi": "Poistorekisteri", "en": "Erasure ledger"},
    "people.when": {"fi": "Aika", "en": "When"},
    "people.by": {"fi": "Tekijä", "en": "By"},
    "people.basis": {"fi": "Peruste", "en": "Basis"},
    "people.counts": {"fi": "Poistettu", "en": "Erased"},
}
