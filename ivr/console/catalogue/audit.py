"""Texts of the audit log page."""

TEXTS = {
    "audit.nav": {"fi": "Tarkastusloki", "en": "Audit log"},
    "audit.title": {"fi": "Tarkastusloki", "en": "Audit log"},
    "audit.chain": {"fi": "Ketjun eheys", "en": "Chain integrity"},
    "audit.chain_ok": {"fi": "ehjä", "en": "intact"},
    "audit.chain_broken": {"fi": "RIKKI", "en": "BROKEN"},
    "audit.chain_rows": {"fi": "{rows} merkintää tarkistettu", "en": "{rows} entries verified"},
    "audit.chain_full": {
        "fi": "koko ketju käyty läpi {minutes} min sitten, uudet merkinnät sen jälkeen",
        "en": "whole chain walked {minutes} min ago, newer entries since",
    },
    "audit.verify_full": {"fi": "Tarkista koko ketju nyt", "en": "Verify the whole chain now"},
    "audit.chain_at": {"fi": "merkinnästä {id} alkaen", "en": "from entry {id} on"},
    "audit.filters": {"fi": "Suodattimet", "en": "Filters"},
    "audit.bad_filter": {
        "fi": "Korjaa merkityt kentät; mitään ei haettu.",
        "en": "Correct the marked fields; nothing was looked up.",
    },
    "audit.tenant": {"fi": "Asiakas", "en": "Tenant"},
    "audit.action": {"fi": "Toimenpide", "en": "Action"},
    "audit.action_hint": {"fi": "Alku riittää, esim. user.", "en": "A prefix will do, e.g. user."},
    "audit.actor": {"fi": "Tekijä", "en": "Actor"},
    "audit.target": {"fi": "Kohde", "en": "Target"},
    "audit.since": {"fi": "Alkaen", "en": "From"},
    "audit.until": {"fi": "Asti", "en": "Until"},
    "audit.at": {"fi": "Aika", "en": "Time"},
    "audit.details": {"fi": "Tiedot", "en": "Details"},
}
