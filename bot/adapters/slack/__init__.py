"""Slack adapter (slack-bolt `AsyncApp`): translates Slack events into bot-core calls and renders Block Kit."""
