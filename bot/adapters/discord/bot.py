"""The Discord bot (discord.py 2.x): mentions answered in a thread on the question, thread follow-ups and replies
continue the conversation, `/ask` `/ingest` `/sources` `/forget` `/help` app commands, attachments, 👍/👎 buttons.

Thin by design: events become bot-core calls (`BotCore`), views are rendered by `render.py`. Who may read and change
what is the core's policy (`bot.access`); this module only says what kind of place a message came from: a guild
channel is public when the guild's default role (@everyone) can view it, after permission overwrites; otherwise it
is private, and so is a private thread (which also reads its parent's documents when the parent is private); a
public thread is its channel; a DM is the user's own. Admins: Manage Server, or DISCORD_ADMIN_IDS. Answers never
ping anyone (allowed mentions: none) and links never unfurl.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.access import ChangePolicy, Conversation, Kind, Place, conversation_at, parse_ids
from bot.adapters.discord.render import answer_pages, streaming_text, view_text
from bot.core import BotCore, failure, fetch_each, help_text
from bot.feedback import FeedbackStore
from bot.jobs import Job, JobStore, ingest_upload, resume
from bot.settings import Settings
from bot.streaming import ProgressReporter, ThrottledEditor, follow
from bot.terms import ConfigError, FetchError, FileResult, SourceFile, Turn, last_turns, safe_name
from bot.views import AnswerView, ForgottenView, MessageView, SharedView, View

log = logging.getLogger(__name__)

INGEST_WORD = re.compile(r"(?i)\bingest\b")
URL = re.compile(r"<?(https?://[^\s<>]+)>?")  # Discord users wrap links in <> to suppress embeds
MENTION = re.compile(r"<@!?\d+>")
DISCORD_HELP = help_text(
    {"ask": "/ask question:", "ingest": "/ingest file: url:", "sources": "/sources", "forget": "/forget document:",
     "share": "/share document:", "audit": "/audit", "help": "/help"},
    "You can also mention me with a question (I answer in a thread; replies there need no mention), or mention me "
    "with attachments and the word ingest. A document is read only where everyone present may see it: shared in a "
    "channel everyone can view it serves the whole server, in a private channel or thread its members, in a DM you "
    "alone.")
INGEST_VARIABLE = "DISCORD_INGEST_ALLOWED"


def is_public(channel: Any, guild: discord.Guild) -> bool:
    """Whether everyone in the guild can view `channel`: the default role's permissions after overwrites."""
    return bool(channel.permissions_for(guild.default_role).view_channel)


def place_of(channel: Any, guild: discord.Guild | None) -> Place:
    """The core's description of a Discord channel, thread or DM (UNKNOWN when it cannot be told)."""
    if guild is None:
        return Place("discord", None, str(getattr(channel, "id", "")) or None, Kind.DM)
    space = str(guild.id)
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        if channel.type == discord.ChannelType.private_thread:
            private_parent = parent is not None and not is_public(parent, guild)
            return Place("discord", space, str(channel.id), Kind.PRIVATE,
                         parent=str(parent.id) if private_parent else None)
        if parent is None:
            return Place("discord", space, str(channel.id), Kind.UNKNOWN)
        channel = parent  # a public thread has its channel's audience
    if not isinstance(channel, discord.abc.GuildChannel):
        return Place("discord", space, str(getattr(channel, "id", "")) or None, Kind.UNKNOWN)
    return Place("discord", space, str(channel.id), Kind.PUBLIC if is_public(channel, guild) else Kind.PRIVATE)


def check_token(settings: Settings) -> str:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise ConfigError("DISCORD_TOKEN is not set: copy the bot token from the Developer Portal (your application "
                          "› Bot › Reset Token) into .env")
    token = settings.discord_token.get_secret_value().strip()
    if token.count(".") != 2 or " " in token:
        raise ConfigError("DISCORD_TOKEN does not look like a bot token (three dot-separated parts); copy it again "
                          "from the Developer Portal › Bot")
    ChangePolicy.parse(settings.discord_ingest_allowed, INGEST_VARIABLE)
    return token


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"bitrag:vote:(?P<vote>up|down):(?P<id>\w+)"):
    """👍/👎 that keep working after a restart (the answer id lives in the custom id)."""

    def __init__(self, vote: str, answer_id: str) -> None:
        super().__init__(discord.ui.Button(label="👍" if vote == "up" else "👎", style=discord.ButtonStyle.secondary,
                                           custom_id=f"bitrag:vote:{vote}:{answer_id}"))
        self.vote, self.answer_id = vote, answer_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> VoteButton:
        return cls(match["vote"], match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        feedback: FeedbackStore = interaction.client.feedback  # type: ignore[attr-defined]
        known = await asyncio.to_thread(feedback.vote, self.answer_id, str(interaction.user.id),
                                        1 if self.vote == "up" else -1)
        await interaction.response.send_message("Thanks for the feedback!" if known else
                                                "That answer is too old to rate.", ephemeral=True, suppress_embeds=True)


def vote_view(answer_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", answer_id))
    view.add_item(VoteButton("down", answer_id))
    return view


class BitragDiscord(discord.Client):
    def __init__(self, core: BotCore, settings: Settings, feedback: FeedbackStore, **options: Any) -> None:
        check_token(settings)
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: mentions and thread follow-ups need the text
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options)
        self.core, self.settings, self.feedback = core, settings, feedback
        self.jobs = JobStore(settings.uploads)
        self._resuming: asyncio.Task[int] | None = None
        self.policy = ChangePolicy.parse(settings.discord_ingest_allowed, INGEST_VARIABLE)
        admins = parse_ids(settings.discord_admin_ids)
        self.admin_ids = frozenset(a for a in admins if not a.startswith("role:"))
        self.admin_roles = frozenset(a[5:] for a in admins if a.startswith("role:"))
        self.tree = app_commands.CommandTree(self)
        self._register_commands()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(VoteButton)
        if self.core is not None:  # `bitrag doctor` logs in without a core, and must leave the jobs alone
            self._resuming = asyncio.create_task(self.resume_jobs())  # in the background: connecting goes first
        guilds = [int(g) for g in self.settings.discord_guild_ids.replace(" ", "").split(",") if g]
        for guild_id in guilds:  # development: instant per-guild registration
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if not guilds:  # production: global commands
            await self.tree.sync()

    # --- helpers ---------------------------------------------------------------------------------------------

    def conversation(self, channel: Any, guild: discord.Guild | None, user: discord.abc.User,
                     permissions: discord.Permissions | None = None) -> Conversation:
        """`permissions`: what Discord resolved for an interaction's user in its channel (preferred when given)."""
        return conversation_at(place_of(channel, guild), str(user.id), self.is_admin(user, guild, permissions))

    def _member(self, user: discord.abc.User, guild: discord.Guild | None) -> discord.Member | None:
        if guild is None:
            return None
        return user if isinstance(user, discord.Member) else guild.get_member(user.id)

    def _roles(self, member: discord.Member | None) -> tuple[str, ...]:
        return tuple(n for r in (member.roles if member else []) for n in (r.name, str(r.id)))

    def is_admin(self, user: discord.abc.User, guild: discord.Guild | None,
                 permissions: discord.Permissions | None = None) -> bool:
        """Manage Server, or listed in DISCORD_ADMIN_IDS (ids or role:<name or id>). Never in a DM."""
        member = self._member(user, guild)
        if member is None:
            return False
        if str(user.id) in self.admin_ids or self.admin_roles.intersection(self._roles(member)):
            return True
        return bool((permissions or member.guild_permissions).manage_guild)

    async def may_add(self, conversation: Conversation, user: discord.abc.User, guild: discord.Guild | None) -> bool:
        if guild is None:  # a DM knowledge base belongs to its user
            return True

        async def admin(_: str) -> bool:
            return conversation.admin

        return await self.policy.allows(conversation.user, admin, self._roles(self._member(user, guild)))

    def refusal(self) -> str:
        return self.policy.refusal(INGEST_VARIABLE)

    async def stream_answer(self, conversation: Conversation, question: str, history: list[Turn],
                            edit: Any, send: Any) -> None:
        """Stream into one message via `edit(content=..., view=...)`, then finish; overflow pages go to `send`."""
        editor = ThrottledEditor(lambda text: edit(content=streaming_text(text)), self.settings.stream_interval_s)
        view = await follow(self.core.ask_stream(conversation, question, history), editor)
        if not isinstance(view, AnswerView):
            await editor.finish(lambda: edit(content=view_text(view)))
            return
        pages = answer_pages(view)
        buttons = vote_view(await self.feedback.record(view, conversation))
        if len(pages) == 1:
            await editor.finish(lambda: edit(content=pages[0], view=buttons))
            return
        await editor.finish(lambda: edit(content=pages[0]))
        for i, page in enumerate(pages[1:], start=2):
            await send(page, view=buttons if i == len(pages) else discord.utils.MISSING)

    async def fetch_attachments(self, attachments: list[discord.Attachment], folder: Path,
                                link: str | None) -> tuple[list[SourceFile], list[FileResult]]:
        """Check each attachment's name and size before downloading it."""
        async def fetch(attachment: discord.Attachment) -> SourceFile:
            self.core.service.parser.check(attachment.filename, attachment.size)
            path = folder / f"{attachment.id}-{safe_name(attachment.filename)}"
            try:
                path.write_bytes(await attachment.read())
            except discord.HTTPException as exc:
                raise FetchError(f"{attachment.filename}: the download failed ({exc.status}); try again.") from None
            return SourceFile(path=path, name=attachment.filename, key=f"discord:{attachment.filename}", link=link)

        return await fetch_each(attachments, fetch, lambda attachment: attachment.filename)

    async def resume_jobs(self) -> int:
        """Finish or report the uploads a previous run of the bot accepted but did not complete."""
        async def post(job: Job, view: View) -> None:
            channel_id = int(job.reply["channel"])
            channel = self.get_channel(channel_id) or await self.fetch_channel(channel_id)
            await channel.send(view_text(view), suppress_embeds=True)  # type: ignore[union-attr]

        return await resume(self.core, self.jobs, "discord", post)

    async def ingest_attachments(self, conversation: Conversation, attachments: list[discord.Attachment],
                                 edit: Any, link: str | None, urls: list[str] | None = None) -> None:
        """Attachments and linked web pages (`ingest <url>`), as one durable upload job."""
        urls = urls or []

        async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
            files, failed = await self.fetch_attachments(attachments, folder, link)
            pages, unreachable = await self.core.fetch_urls(urls, folder)
            return files + pages, failed + unreachable

        editor = ThrottledEditor(lambda text: edit(content=text), self.settings.stream_interval_s)
        progress = ProgressReporter(editor, "📥")
        view = await ingest_upload(self.core, self.jobs, conversation, [a.filename for a in attachments] + urls,
                                   {"channel": conversation.channel}, fetch, progress)
        await progress.drain()
        await editor.finish(lambda: edit(content=view_text(view)))

    # --- messages --------------------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        in_dm = message.guild is None
        thread = message.channel if isinstance(message.channel, discord.Thread) else None
        in_our_thread = thread is not None and thread.owner_id == self.user.id
        mentioned = any(u.id == self.user.id for u in message.mentions) and f"{self.user.id}>" in message.content
        reference = message.reference.resolved if message.reference else None
        replied = isinstance(reference, discord.Message) and reference.author.id == self.user.id
        log.debug("message %s: dm=%s our_thread=%s mentioned=%s replied=%s (%r)", message.id, in_dm, in_our_thread,
                  mentioned, replied, type(reference).__name__)
        if not (in_dm or in_our_thread or mentioned or replied):
            return
        text = " ".join(MENTION.sub(" ", message.content).split())
        conversation = self.conversation(message.channel, message.guild, message.author)
        try:
            urls = URL.findall(text) if INGEST_WORD.search(text) else []
            if (message.attachments and (in_dm or INGEST_WORD.search(text))) or urls:
                await self._ingest_from_message(message, conversation, urls)
                text = URL.sub("", INGEST_WORD.sub("", text)).strip()
                if not text:
                    return
            if not text:
                await message.reply(DISCORD_HELP, mention_author=False, suppress_embeds=True)
                return
            history = await self._history(message, thread if in_our_thread else None,
                                          reference if replied else None)
            await self._answer_message(message, conversation, text, history, create_thread=not (
                in_dm or in_our_thread or replied))
        except discord.HTTPException as exc:
            log.warning("Discord API error while answering: %s %s", exc.status, exc.text)
            await self._tell(message, f"⚠️ Discord refused part of my answer ({exc.status}); please try again.")

    async def _tell(self, message: discord.Message, text: str) -> None:
        try:
            await message.channel.send(text, suppress_embeds=True)
        except discord.HTTPException:
            log.warning("Could not tell the user either")

    async def _ingest_from_message(self, message: discord.Message, conversation: Conversation,
                                   urls: list[str]) -> None:
        if not await self.may_add(conversation, message.author, message.guild):
            await message.reply(self.refusal(), mention_author=False, suppress_embeds=True)
            return
        names = [a.filename for a in message.attachments] + urls
        status = await message.reply(f"📥 Ingesting {', '.join(names)}…", mention_author=False,
                                     suppress_embeds=True)
        await self.ingest_attachments(conversation, list(message.attachments), status.edit, message.jump_url, urls)

    async def _history(self, message: discord.Message, thread: discord.Thread | None,
                       replied_to: discord.Message | None) -> list[Turn]:
        turns: list[Turn] = []
        if thread is not None:
            if isinstance(thread.parent, discord.TextChannel):
                try:  # the question the thread was started on
                    starter = await thread.parent.fetch_message(thread.id)
                    turns.append(Turn("user", " ".join(MENTION.sub(" ", starter.content).split())))
                except discord.HTTPException:
                    pass
            async for earlier in thread.history(limit=50, before=message, oldest_first=True):
                turns.append(self._turn(earlier))
        elif replied_to is not None:
            turns.append(self._turn(replied_to))
        turns = [t for t in turns if t.text]
        return last_turns(turns, self.settings.history_turns)

    def _turn(self, message: discord.Message) -> Turn:
        if self.user is not None and message.author.id == self.user.id:
            return Turn("assistant", message.content.split("\n\n**Sources**")[0].split("\n\n**Closest")[0])
        return Turn("user", " ".join(MENTION.sub(" ", message.content).split()))

    async def _answer_message(self, message: discord.Message, conversation: Conversation, question: str,
                              history: list[Turn], create_thread: bool) -> None:
        destination: discord.abc.Messageable = message.channel
        reply_to: discord.Message | None = message
        if create_thread:
            try:
                destination = await message.create_thread(name=question[:90] or "bitrag", auto_archive_duration=1440)
                reply_to = None
            except discord.HTTPException:  # threads not allowed here: reply in the channel instead
                destination = message.channel
        async with destination.typing():
            if reply_to is not None:
                answer = await reply_to.reply("🔎 Searching…", mention_author=False, suppress_embeds=True)
            else:
                answer = await destination.send("🔎 Searching…", suppress_embeds=True)
            await self.stream_answer(conversation, question, history, answer.edit,
                                     lambda page, view: destination.send(page, view=view, suppress_embeds=True))

    # --- app commands ----------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        tree = self.tree

        def here(interaction: discord.Interaction) -> Conversation:
            return self.conversation(interaction.channel, interaction.guild, interaction.user,
                                     interaction.permissions)

        @tree.command(name="ask", description="Ask a question about the documents readable here")
        @app_commands.describe(question="What do you want to know?")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            # A message at once (Discord's 3-second rule) that carries SUPPRESS_EMBEDS, kept through every edit;
            # webhook edits cannot set that flag themselves.
            await interaction.response.send_message("🔎 Searching…", suppress_embeds=True)
            try:
                await self.stream_answer(here(interaction), question, [], interaction.edit_original_response,
                                         lambda page, view: interaction.followup.send(page, view=view,
                                                                                      suppress_embeds=True))
            except Exception as exc:
                await interaction.edit_original_response(content=f"⚠️ {failure(exc).text}")

        @tree.command(name="ingest", description="Add files or a web page for the people who can read this channel")
        async def ingest(interaction: discord.Interaction, file: discord.Attachment | None = None,
                         file2: discord.Attachment | None = None, file3: discord.Attachment | None = None,
                         url: str | None = None) -> None:
            conversation = here(interaction)
            if not await self.may_add(conversation, interaction.user, interaction.guild):
                await interaction.response.send_message(self.refusal(), ephemeral=True, suppress_embeds=True)
                return
            attachments = [a for a in (file, file2, file3) if a is not None]
            urls = [url.strip()] if url and url.strip() else []
            if not attachments and not urls:
                await interaction.response.send_message("Attach a file or give a `url`.", ephemeral=True,
                                                        suppress_embeds=True)
                return
            await interaction.response.send_message(
                f"📥 Ingesting {', '.join([a.filename for a in attachments] + urls)}…", suppress_embeds=True)
            status = await interaction.original_response()
            await self.ingest_attachments(conversation, attachments, interaction.edit_original_response,
                                          status.jump_url, urls)

        @tree.command(name="sources", description="List the documents answers here may use")
        async def sources(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(view_text(await self.core.sources(here(interaction))),
                                                    ephemeral=True, suppress_embeds=True)

        @tree.command(name="forget", description="Remove a document you added (admins: any)")
        @app_commands.describe(document="File name or id, as listed by /sources")
        async def forget(interaction: discord.Interaction, document: str) -> None:
            conversation = here(interaction)
            await self.respond(interaction, conversation, await self.core.forget(conversation, document))

        @tree.command(name="share", description="Make a document readable by the whole server (admins)")
        @app_commands.describe(document="File name or id, as listed by /sources")
        async def share(interaction: discord.Interaction, document: str) -> None:
            conversation = here(interaction)
            if conversation.space is None:
                view: View = MessageView("Share documents from a server channel, not a DM.", "error")
            else:
                view = await self.core.share(conversation, document, conversation.space)
            await self.respond(interaction, conversation, view)

        @tree.command(name="audit", description="Who added, replaced, shared or forgot which document (admins)")
        async def audit(interaction: discord.Interaction) -> None:
            conversation = here(interaction)
            view = (await self.core.audit(conversation, conversation.space) if conversation.space
                    else MessageView("The audit log is per server: run /audit in a server channel.", "error"))
            await interaction.response.send_message(view_text(view), ephemeral=True, suppress_embeds=True)

        @tree.context_menu(name="Add to knowledge base")
        async def add_message(interaction: discord.Interaction, message: discord.Message) -> None:
            """A message (with its attachments) becomes a document of this channel's audience, cited by its link."""
            conversation = here(interaction)
            if not await self.may_add(conversation, interaction.user, interaction.guild):
                await interaction.response.send_message(self.refusal(), ephemeral=True, suppress_embeds=True)
                return
            await interaction.response.send_message("📥 Adding that message…", ephemeral=True, suppress_embeds=True)
            name = f"discord-message-{message.channel.id}-{message.id}.md"

            async def fetch(folder: Path) -> tuple[list[SourceFile], list[FileResult]]:
                written = message.created_at.strftime("%Y-%m-%d %H:%M")
                (folder / name).write_text(f"# Discord message\n\n**{message.author.display_name}** ({written} UTC):"
                                           f"\n\n{message.content}\n")
                document = SourceFile(path=folder / name, name=name, link=message.jump_url,
                                      key=f"discord:message:{message.channel.id}:{message.id}")
                files, failed = await self.fetch_attachments(list(message.attachments), folder, message.jump_url)
                return [document, *files], failed

            view = await ingest_upload(self.core, self.jobs, conversation,
                                       [name, *(a.filename for a in message.attachments)],
                                       {"channel": conversation.channel}, fetch)
            await interaction.edit_original_response(content=view_text(view))

        @tree.command(name="help", description="What bitrag can do")
        async def help_command(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(DISCORD_HELP, ephemeral=True, suppress_embeds=True)

    async def respond(self, interaction: discord.Interaction, conversation: Conversation, view: View) -> None:
        """A change is announced in the channel only when everyone there may read the document; anything else
        (refusals, errors, changes to documents of a narrower audience) goes to the user alone."""
        announce = isinstance(view, ForgottenView | SharedView) and view.document.audience in conversation.read_scope
        await interaction.response.send_message(view_text(view), ephemeral=not announce, suppress_embeds=True)
