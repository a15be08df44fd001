"""The catalogue of system texts: everything Linja itself says (when a tenant defines no prompt
of its own), in every language it speaks. Flows never hold texts: they ask
``texts.text(Text.KEY, language, **values)`` and hand the result to the prompt renderer, which
speaks it with espeak-ng and caches it by content (so a text changed here is rendered anew).

A ``{digits}`` placeholder stands for a caller's number, which is personal data and never part
of a cached text: :func:`around` gives the text before and after it, and the renderer speaks
the number between them from :data:`DIGITS`, one cached word per digit.

Each key has a text in every language of :data:`LANGUAGES`, with the same ``{placeholders}``
in each (tests/unit/test_texts.py checks both). A language Linja does not speak gets the
English text, as the flows always did; a tenant's language is validated at load, so that is
the exception.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, TypeGuard, get_args

__all__ = [
    "DEFAULT_LANGUAGE",
    "DIGITS",
    "FALLBACK",
    "LANGUAGES",
    "Language",
    "Text",
    "around",
    "digit_word",
    "speaks",
    "text",
]

log = logging.getLogger(__name__)

Language = Literal["fi", "sv", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
FALLBACK: Final[Language] = "en"  # for a language with no texts here
DEFAULT_LANGUAGE: Final[Language] = "fi"  # when no tenant (hence no language) is known


class Text(StrEnum):
    """One system text; the value names it in logs (``<feature>.<what>``)."""

    # bulletins: a number with no bulletin in force
    NO_DISRUPTIONS = "bulletin.no_disruptions"
    # recording: the notice before a conversation is recorded
    RECORDING_NOTICE = "recording.notice"
    # voice messages
    VOICEMAIL_PROMPT = "voicemail.prompt"
    VOICEMAIL_THANKS = "voicemail.thanks"
    VOICEMAIL_REFUSED = "voicemail.refused"  # a restricted caller
    # queue announcements: position and wait, then (optionally) the callback offer
    QUEUE_POSITION = "queue.position"  # {pos} {minutes}
    QUEUE_CALLBACK_OFFER = "queue.callback_offer"  # {key}
    # callback capture
    CALLBACK_CONFIRM = "callback.confirm"  # {digits}
    CALLBACK_KEY = "callback.key"
    CALLBACK_INVALID = "callback.invalid"
    CALLBACK_RESTRICTED = "callback.restricted"
    CALLBACK_OFFER_MESSAGE = "callback.offer_message"
    CALLBACK_DONE = "callback.done"
    CALLBACK_NOT_KEPT = "callback.not_kept"  # the request could not be stored anywhere
    # callback dialer, to the agent: who is called, and how the call went
    DIALER_CALLING = "dialer.calling"  # {digits}
    DIALER_BUSY = "dialer.busy"
    DIALER_NO_ANSWER = "dialer.no_answer"
    DIALER_FAILED = "dialer.failed"
    # agent login by phone
    AGENT_LOGIN = "agent.login"
    AGENT_PIN = "agent.pin"
    AGENT_WRONG = "agent.wrong"
    AGENT_CHOOSE = "agent.choose"
    AGENT_AVAILABLE = "agent.available"
    AGENT_LOGGED_OUT = "agent.logged_out"
    AGENT_PAUSED = "agent.paused"
    AGENT_GOODBYE = "agent.goodbye"
    # staff call-out, to the member called
    CALLOUT_INTRO = "callout.intro"
    CALLOUT_PIN = "callout.pin"
    CALLOUT_PIN_WRONG = "callout.pin_wrong"
    CALLOUT_OPTIONS = "callout.options"
    CALLOUT_CONFIRMED = "callout.confirmed"
    CALLOUT_DECLINED = "callout.declined"
    CALLOUT_ENDED = "callout.ended"
    LINES_BUSY = "load.lines_busy"


_T = Text
CATALOGUE: Final[Mapping[Text, Mapping[Language, str]]] = MappingProxyType(
    {
        _T.NO_DISRUPTIONS: {
            "fi": "Tällä hetkellä ei ole tiedossa häiriöitä.",
            "sv": "För närvarande känner vi inte till några störningar.",
            "en": "There are currently no known disruptions.",
        },
        _T.RECORDING_NOTICE: {
            "fi": "Tämä puhelu nauhoitetaan palvelun laadun varmistamiseksi.",
            "sv": "Det här samtalet spelas in för att säkerställa kvaliteten på tjänsten.",
            "en": "This call is recorded to ensure the quality of our service.",
        },
        _T.VOICEMAIL_PROMPT: {
            "fi": "Jätä viesti äänimerkin jälkeen. Lopeta painamalla risuaitaa.",
            "sv": "Lämna ett meddelande efter tonen. Avsluta med fyrkant.",
            "en": "Please leave a message after the tone. Press hash when you are done.",
        },
        _T.VOICEMAIL_THANKS: {
            "fi": "Kiitos, viestisi on tallennettu. Näkemiin.",
            "sv": "Tack, ditt meddelande har sparats. Hej då.",
            "en": "Thank you, your message has been saved. Goodbye.",
        },
        _T.VOICEMAIL_REFUSED: {
            "fi": "Valitettavasti tästä numerosta ei voi jättää viestiä. Näkemiin.",
            "sv": "Tyvärr kan man inte lämna ett meddelande från det här numret. Hej då.",
            "en": "Sorry, a message cannot be left from this number. Goodbye.",
        },
        _T.QUEUE_POSITION: {
            "fi": "Olet jonossa sijalla {pos}. Arvioitu odotusaika on noin {minutes} minuuttia.",
            "sv": "Du är nummer {pos} i kön. Beräknad väntetid är cirka {minutes} minuter.",
            "en": "You are number {pos} in the queue. "
            "The estimated wait is about {minutes} minutes.",
        },
        _T.QUEUE_CALLBACK_OFFER: {
            "fi": "Jos haluat, että soitamme sinulle takaisin, paina {key}. "
            "Paikkasi jonossa säilyy.",
            "sv": "Tryck {key} om du vill att vi ringer upp dig. Du behåller din plats i kön.",
            "en": "To be called back, press {key}. You keep your place in the queue.",
        },
        _T.CALLBACK_CONFIRM: {
            "fi": "Soitamme sinulle takaisin numeroon {digits}. Vahvista painamalla 1. "
            "Jos haluat antaa toisen numeron, paina 2.",
            "sv": "Vi ringer tillbaka till nummer {digits}. Bekräfta med 1. "
            "Tryck 2 för att ange ett annat nummer.",
            "en": "We will call you back on {digits}. Press 1 to confirm, "
            "or 2 to key in another number.",
        },
        _T.CALLBACK_KEY: {
            "fi": "Näppäile puhelinnumero ja lopuksi risuaita.",
            "sv": "Slå telefonnumret och avsluta med fyrkant.",
            "en": "Key in the phone number, then press hash.",
        },
        _T.CALLBACK_INVALID: {
            "fi": "Numero ei kelpaa.",
            "sv": "Numret är inte giltigt.",
            "en": "That number is not valid.",
        },
        _T.CALLBACK_RESTRICTED: {
            "fi": "Tähän numeroon ei voida soittaa takaisin.",
            "sv": "Vi kan inte ringa tillbaka till det numret.",
            "en": "We cannot call you back on that number.",
        },
        _T.CALLBACK_OFFER_MESSAGE: {
            "fi": "Jos haluat jättää viestin, paina 1.",
            "sv": "Tryck 1 om du vill lämna ett meddelande.",
            "en": "To leave a message, press 1.",
        },
        _T.CALLBACK_NOT_KEPT: {
            "fi": "Pahoittelemme, emme voineet tallentaa soittopyyntöäsi. Soita myöhemmin "
            "uudelleen. Näkemiin.",
            "sv": "Vi beklagar, vi kunde inte spara din begäran om återuppringning. Ring igen "
            "senare. Hej då.",
            "en": "We are sorry, we could not save your callback request. Please call again "
            "later. Goodbye.",
        },
        _T.CALLBACK_DONE: {
            "fi": "Kiitos. Soitamme sinulle takaisin, kun on vuorosi. Paikkasi jonossa säilyy. "
            "Näkemiin.",
            "sv": "Tack. Vi ringer tillbaka när det är din tur. Du behåller din plats i kön. "
            "Hej då.",
            "en": "Thank you. We will call you back when it is your turn; you keep your place "
            "in the queue. Goodbye.",
        },
        _T.DIALER_CALLING: {
            "fi": "Takaisinsoitto. Soitetaan numeroon {digits}.",
            "sv": "Återuppringning. Vi ringer {digits}.",
            "en": "Callback. Calling {digits}.",
        },
        _T.DIALER_BUSY: {
            "fi": "Numero oli varattu.",
            "sv": "Numret var upptaget.",
            "en": "The number was busy.",
        },
        _T.DIALER_NO_ANSWER: {
            "fi": "Asiakas ei vastannut.",
            "sv": "Kunden svarade inte.",
            "en": "The customer did not answer.",
        },
        _T.DIALER_FAILED: {
            "fi": "Puhelu ei onnistunut.",
            "sv": "Samtalet misslyckades.",
            "en": "The call failed.",
        },
        _T.AGENT_LOGIN: {
            "fi": "Anna puhelintunnuksesi ja risuaita.",
            "sv": "Ange ditt telefon-ID och fyrkant.",
            "en": "Enter your phone login, then press hash.",
        },
        _T.AGENT_PIN: {
            "fi": "Anna PIN-koodisi ja risuaita.",
            "sv": "Ange din PIN-kod och fyrkant.",
            "en": "Enter your PIN, then press hash.",
        },
        _T.AGENT_WRONG: {
            "fi": "Tunnus tai PIN-koodi ei kelpaa.",
            "sv": "ID eller PIN-kod är inte giltig.",
            "en": "The login or PIN is not valid.",
        },
        _T.AGENT_CHOOSE: {
            "fi": "Kirjaudu ulos 1, tauko 2, jatka 3.",
            "sv": "Logga ut 1, paus 2, fortsätt 3.",
            "en": "Log out 1, pause 2, resume 3.",
        },
        _T.AGENT_AVAILABLE: {
            "fi": "Olet kirjautunut sisään.",
            "sv": "Du är inloggad.",
            "en": "You are logged in.",
        },
        _T.AGENT_LOGGED_OUT: {
            "fi": "Olet kirjautunut ulos.",
            "sv": "Du är utloggad.",
            "en": "You are logged out.",
        },
        _T.AGENT_PAUSED: {
            "fi": "Olet tauolla.",
            "sv": "Du har paus.",
            "en": "You are paused.",
        },
        _T.AGENT_GOODBYE: {
            "fi": "Näkemiin.",
            "sv": "Hej då.",
            "en": "Goodbye.",
        },
        _T.CALLOUT_INTRO: {
            "fi": "Tämä on hälytysviesti.",
            "sv": "Det här är ett larmmeddelande.",
            "en": "This is a call-out message.",
        },
        _T.CALLOUT_PIN: {
            "fi": "Anna PIN-koodisi ja risuaita.",
            "sv": "Ange din PIN-kod och fyrkant.",
            "en": "Enter your PIN, then press hash.",
        },
        _T.CALLOUT_PIN_WRONG: {
            "fi": "PIN-koodi ei kelpaa.",
            "sv": "PIN-koden är inte giltig.",
            "en": "The PIN is not valid.",
        },
        _T.CALLOUT_OPTIONS: {
            "fi": "Vahvista painamalla 1. Jos et pääse, paina 2. Kuuntele uudelleen: tähti.",
            "sv": "Tryck 1 för att bekräfta, 2 om du inte kan komma, stjärna för att höra "
            "meddelandet igen.",
            "en": "Press 1 to confirm, 2 if you cannot come, star to hear it again.",
        },
        _T.CALLOUT_CONFIRMED: {
            "fi": "Kiitos, vahvistus on kirjattu. Näkemiin.",
            "sv": "Tack, din bekräftelse är registrerad. Hej då.",
            "en": "Thank you, your confirmation is recorded. Goodbye.",
        },
        _T.CALLOUT_DECLINED: {
            "fi": "Kiitos, tieto on kirjattu. Näkemiin.",
            "sv": "Tack, det är registrerat. Hej då.",
            "en": "Thank you, that is recorded. Goodbye.",
        },
        _T.CALLOUT_ENDED: {
            "fi": "Tämä hälytys on päättynyt. Kiitos, näkemiin.",
            "sv": "Det här larmet har avslutats. Tack, hej då.",
            "en": "This call-out has ended. Thank you, goodbye.",
        },
        # Played by the dialplan (label `shed`) while the controller sheds load; 1 asks for
        # a callback (dialplan/linja.conf [linja-busy]).
        _T.LINES_BUSY: {
            "fi": "Kaikki linjamme ovat juuri nyt varattuja. Soita myöhemmin uudelleen, "
            "tai paina 1, niin soitamme sinulle takaisin.",
            "sv": "Alla våra linjer är upptagna just nu. Ring igen senare, "
            "eller tryck 1 så ringer vi upp dig.",
            "en": "All our lines are busy right now. Please call again later, "
            "or press 1 to be called back.",
        },
    }
)

# How each character of a number is said, one word at a time ("+" leads an E.164 number).
DIGITS: Final[Mapping[Language, Mapping[str, str]]] = MappingProxyType(
    {
        "fi": {
            "0": "nolla",
            "1": "yksi",
            "2": "kaksi",
            "3": "kolme",
            "4": "neljä",
            "5": "viisi",
            "6": "kuusi",
            "7": "seitsemän",
            "8": "kahdeksan",
            "9": "yhdeksän",
            "+": "plus",
        },
        "sv": {
            "0": "noll",
            "1": "ett",
            "2": "två",
            "3": "tre",
            "4": "fyra",
            "5": "fem",
            "6": "sex",
            "7": "sju",
            "8": "åtta",
            "9": "nio",
            "+": "plus",
        },
        "en": {
            "0": "zero",
            "1": "one",
            "2": "two",
            "3": "three",
            "4": "four",
            "5": "five",
            "6": "six",
            "7": "seven",
            "8": "eight",
            "9": "nine",
            "+": "plus",
        },
    }
)


def speaks(language: str) -> TypeGuard[Language]:
    """Whether the catalogue has texts in ``language``."""
    return language in LANGUAGES


def text(key: Text, language: str, /, **values: object) -> str:
    """``key`` in ``language`` (English when Linja does not speak it), with its placeholders
    filled from ``values`` (KeyError if one is missing)."""
    if not speaks(language):
        log.warning("no %r texts: %s taken in %s", language, key.value, FALLBACK)
        language = FALLBACK
    return CATALOGUE[key][language].format(**values)


def around(key: Text, language: str, placeholder: str, /, **values: object) -> tuple[str, str]:
    """``key`` in ``language`` split at ``{placeholder}``: the text before it and the text
    after it (stripped; either may be empty), other placeholders filled from ``values``.
    KeyError if the text has no such placeholder or a value is missing."""
    if not speaks(language):
        log.warning("no %r texts: %s taken in %s", language, key.value, FALLBACK)
        language = FALLBACK
    before, found, after = CATALOGUE[key][language].partition("{" + placeholder + "}")
    if not found:
        raise KeyError(placeholder)
    return before.format(**values).strip(), after.format(**values).strip()


def digit_word(char: str, language: str) -> str:
    """How ``char`` (a digit, or the + of an E.164 number) is said in ``language``
    (English when Linja does not speak it); KeyError for any other character."""
    return DIGITS[language if speaks(language) else FALLBACK][char]
