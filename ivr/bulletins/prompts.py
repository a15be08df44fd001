"""Built-in prompt texts of the bulletin service, per language."""

from __future__ import annotations

NO_DISRUPTIONS = {
    "fi": "Tällä hetkellä ei ole tiedossa häiriöitä.",
    "sv": "För närvarande känner vi inte till några störningar.",
    "en": "There are currently no known disruptions.",
}
