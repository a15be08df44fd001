"""Common given names and surnames of Finnish, Finland-Swedish and English-speaking callers.

The redactor's name rule after an introduction ("nimeni on ...") misses a name said
elsewhere, or one the model heard without its introduction ("... Matti, virtanen ät ...").
These names are marked ``[NAME]`` wherever they stand, in their Finnish inflected forms too
(Matti, Matin, Matille; Virtanen, Virtasen, Virtaselle).

Left out on purpose: names that are everyday words and would blank ordinary speech
("Anna" give, "Marja" berry, "Satu" tale, "Laine" wave, "Virta" current, "Niemi" cape,
"Pia"/"pian" soon, "Per", "Mark", "Will", "Brown").
"""

from __future__ import annotations

import re

GIVEN = (
    # Finnish, men
    "Juhani",
    "Johannes",
    "Olavi",
    "Antero",
    "Tapani",
    "Kalevi",
    "Tapio",
    "Matti",
    "Mikael",
    "Ilmari",
    "Timo",
    "Juha",
    "Mikko",
    "Jari",
    "Kari",
    "Antti",
    "Jukka",
    "Markku",
    "Pekka",
    "Heikki",
    "Hannu",
    "Seppo",
    "Ari",
    "Petri",
    "Janne",
    "Ville",
    "Sami",
    "Marko",
    "Jussi",
    "Mika",
    "Tuomas",
    "Lauri",
    "Eero",
    "Jani",
    "Teemu",
    "Veikko",
    "Pentti",
    "Erkki",
    "Esa",
    "Jaakko",
    "Kimmo",
    "Risto",
    "Harri",
    "Jouni",
    "Pasi",
    "Tommi",
    "Tero",
    "Aleksi",
    "Eetu",
    "Elias",
    "Eino",
    "Väinö",
    "Niilo",
    "Juho",
    "Joonas",
    "Olli",
    "Jarmo",
    "Raimo",
    "Reijo",
    "Jorma",
    "Martti",
    "Keijo",
    "Lasse",
    "Kalle",
    "Onni",
    "Oskari",
    "Veeti",
    "Valtteri",
    "Arttu",
    "Santeri",
    "Aatu",
    # Finnish, women
    "Maria",
    "Helena",
    "Johanna",
    "Anneli",
    "Kaarina",
    "Marjatta",
    "Liisa",
    "Annikki",
    "Hannele",
    "Tuulikki",
    "Elina",
    "Katariina",
    "Sofia",
    "Emilia",
    "Kristiina",
    "Tuula",
    "Ritva",
    "Leena",
    "Anne",
    "Päivi",
    "Pirjo",
    "Sari",
    "Minna",
    "Tiina",
    "Riitta",
    "Seija",
    "Eija",
    "Merja",
    "Laura",
    "Heidi",
    "Hanna",
    "Sanna",
    "Katja",
    "Jenni",
    "Emma",
    "Venla",
    "Ella",
    "Aada",
    "Eveliina",
    "Outi",
    "Kirsi",
    "Marika",
    "Susanna",
    "Niina",
    "Essi",
    "Milla",
    "Noora",
    "Iida",
    "Elli",
    "Linnea",
    "Saara",
    "Siiri",
    "Oona",
    "Tuija",
    "Terhi",
    "Jaana",
    "Kaisa",
    # Finland-Swedish and Nordic
    "Erik",
    "Johan",
    "Karl",
    "Anders",
    "Lars",
    "Nils",
    "Mats",
    "Henrik",
    "Fredrik",
    "Kristina",
    "Karin",
    "Ingrid",
    "Birgitta",
    # English
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Daniel",
    "Matthew",
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Emily",
)

SURNAMES = (
    # Finnish
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
    "Hiltunen",
    "Hirvonen",
    "Miettinen",
    "Väisänen",
    "Pitkänen",
    "Leinonen",
    "Kettunen",
    "Aaltonen",
    "Meikäläinen",
    # Finland-Swedish and Nordic
    "Johansson",
    "Andersson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Lindholm",
    "Lindqvist",
    "Lindroos",
    # English
    "Smith",
    "Johnson",
    "Williams",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
)

# Finnish case endings (and the English possessive) a name may carry.
_ENDINGS = (
    r"(?:'s|:?(?:n|a|ä|t|lle|lla|llä|lta|ltä|sta|stä|ssa|ssä|ksi|na|nä|han|hin|aan|ään|"
    r"in|ia|iä|ille|illa|illä|ilta|iltä|ista|istä|issa|issä|iksi|ina|inä|ineen|ihin))?"
)
_GRADE = re.compile(r"(kk|pp|tt)([aeiouyäö])$")


def _stems(name: str) -> list[str]:
    """Forms a name takes a case ending on: itself and its weak grade (Matti -> Mati-n,
    Jukka -> Juka-n)."""
    low = name.lower()
    weak = _GRADE.sub(lambda m: m[1][0] + m[2], low)
    return [low] if weak == low else [low, weak]


def _pattern() -> re.Pattern[str]:
    names = (*GIVEN, *SURNAMES)
    plain = {stem for name in names for stem in _stems(name)}
    # a -nen surname's -s stem: Virtanen -> Virtas-en, -ta, -ille
    s_stems = {name.lower()[:-3] + "s" for name in names if name.endswith("nen")}
    alts = "|".join(sorted(plain, key=lambda s: (-len(s), s)))
    s_alts = "|".join(sorted(s_stems, key=lambda s: (-len(s), s)))
    inflected_s = r"(?:e\w{0,4}|t\w{0,3}|i\w{0,4})"
    return re.compile(rf"\b(?:(?:{alts}){_ENDINGS}|(?:{s_alts}){inflected_s})\b", re.I)


NAMES = _pattern()
