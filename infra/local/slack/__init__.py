"""Slack for the runner and the tests, with no workspace and no network.

Without ``SLACK_BOT_TOKEN`` the runner serves the Web API subset the product uses (``sandbox.SlackSandbox``) at
``<runner>/_local/slack/api/<method>`` and workers get ``SLACK_API_URL`` pointing there, so the real Slack adapter
(``slack_sdk``) runs unchanged. What the app posts is kept in order (``GET /_local/slack/outbox``), direct messages
and channel posts alike (a channel id the runner has not seen counts as a channel the app was invited to). A person
acts as a Slack member with ``POST /_local/slack/command`` (a slash command) and ``POST /_local/slack/press`` (a
button on one of the app's messages): the runner builds the request Slack would send, signs it with the signing
secret as Slack does (``signing.signed_headers``) and delivers it to the slack function's route.

The same sandbox on a port of its own (``server.SlackApiServer``) is the tests' Slack: it records every call and can
be told to fail.
"""
