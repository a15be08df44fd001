"""Staff call-out (issue 16): phone a group of staff and partners with a message, collect
acknowledgements, retry and escalate until enough have confirmed.

``policy`` decides who is called when (pure functions of the state and a clock),
``call`` is one member call (message, PIN, keys), ``dialer`` the loop that claims members
under Postgres leases and runs their calls, ``service`` starts, cancels and reports
call-outs for the CLI and the API.
"""
