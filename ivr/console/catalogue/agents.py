"""Texts of the agents page."""

TEXTS = {
    "agents.nav": {"fi": "Agentit", "en": "Agents"},
    "agents.title": {"fi": "Agentit", "en": "Agents"},
    "agents.pick": {"fi": "Valitse asiakas:", "en": "Pick a tenant:"},
    "agents.none": {
        "fi": "Ei agentteja (jonot nimeävät agenttinsa vuotiedostoissa).",
        "en": "No agents (queues name their agents in the flow files).",
    },
    "agents.agent": {"fi": "Agentti", "en": "Agent"},
    "agents.state": {"fi": "Tila", "en": "State"},
    "agents.in_state": {"fi": "Tilassa (h:min:s)", "en": "In state (h:min:s)"},
    "agents.reason": {"fi": "Tauon syy", "en": "Pause reason"},
    "agents.reason_hint": {"fi": "Enintään 100 merkkiä.", "en": "At most 100 characters."},
    "agents.actions": {"fi": "Toiminnot", "en": "Actions"},
    "agents.login": {"fi": "Kirjaa sisään", "en": "Log in"},
    "agents.logout": {"fi": "Kirjaa ulos", "en": "Log out"},
    "agents.pause": {"fi": "Tauko", "en": "Pause"},
    "agents.unpause": {"fi": "Jatka", "en": "Resume"},
    "agents.state.logged_out": {"fi": "uloskirjattu", "en": "logged out"},
    "agents.state.available": {"fi": "vapaa", "en": "available"},
    "agents.state.ringing": {"fi": "soi", "en": "ringing"},
    "agents.state.busy": {"fi": "puhelussa", "en": "talking"},
    "agents.state.wrap_up": {"fi": "jälkityö", "en": "wrap-up"},
    "agents.state.paused": {"fi": "tauolla", "en": "paused"},
}
