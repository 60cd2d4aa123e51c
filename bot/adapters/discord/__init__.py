"""Discord adapter (discord.py 2.x): mentions, threads, app commands, attachments, feedback buttons."""
