"""The Discord bot (discord.py 2.x): mentions answered in a thread on the question, thread follow-ups and replies,
`/ask` `/ingest` `/sources` `/forget` `/share` `/audit` `/help`, "Add to knowledge base", attachments, 👍/👎.

Thin by design: this module establishes the Discord facts and hands them to the chat flows (`bot.chat`). A
channel counts as public only when every member can open it, as Discord computes it: @everyone may view it after
its overwrite, and no role or member overwrite takes View Channel away from anyone (a category's overwrites are
copied onto channels synced with it); a public thread is its channel, a private thread its members (reading its
parent's documents too when the parent is private), a DM its user's. An overwrite that gates a channel narrows the
documents shared there at once, and every guild is checked again when bitrag connects. Answers never ping anyone
and links never unfurl; a reply that must be private (nobody knows who reads a channel) goes by DM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.access import Kind, Person, Room, parse_ids
from bot.adapters.discord.render import answer_pages, streaming_text, view_text
from bot.chat import ChatFlow, Message, Upload
from bot.core import fetch_each, help_text
from bot.feedback import FeedbackStore
from bot.jobs import JobStore
from bot.settings import Settings
from bot.terms import FetchError, FileResult, SourceFile, Turn, safe_name
from bot.views import AnswerView, View

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@!?\d+>")
DISCORD_HELP = help_text(
    {"ask": "/ask question:", "ingest": "/ingest file: url:", "sources": "/sources", "forget": "/forget document:",
     "share": "/share document:", "audit": "/audit", "help-channel": "/help-channel enabled:", "help": "/help"},
    "You can also mention me with a question (I answer in a thread; replies there need no mention), or mention me "
    "with attachments. A document is read only where everyone present may see it: shared in a channel every member "
    "can view it serves the whole server, in a private or gated channel or thread its members, in a DM you alone. "
    "React with ✅ in a thread you asked in to keep it as knowledge.")
QUIET = {"suppress_embeds": True}


def everyone_can_view(channel: Any, guild: discord.Guild) -> bool:
    """Whether every member of the guild can open `channel`: @everyone can after its overwrite, and no other
    overwrite (a role's that is not Administrator, a member's) denies View Channel."""
    if not channel.permissions_for(guild.default_role).view_channel:
        return False
    return not any(overwrite.view_channel is False and target != guild.default_role
                   and not (isinstance(target, discord.Role) and target.permissions.administrator)
                   for target, overwrite in channel.overwrites.items())


def room_of(channel: Any, guild: discord.Guild | None) -> Room:
    """The core's description of a Discord channel, thread or DM (UNKNOWN when it cannot be told)."""
    if guild is None:
        return Room(Kind.DM, str(getattr(channel, "id", "")) or None)
    if guild.get_channel_or_thread(getattr(channel, "id", 0)) is None:
        return Room(Kind.UNKNOWN, str(getattr(channel, "id", "")) or None)  # not visible to bitrag: no overwrites
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        if channel.type == discord.ChannelType.private_thread:
            private_parent = parent is not None and not everyone_can_view(parent, guild)
            return Room(Kind.PRIVATE, str(channel.id), parent=str(parent.id) if private_parent else None)
        if parent is None:
            return Room(Kind.UNKNOWN, str(channel.id))
        channel = parent  # a public thread has its channel's audience
    if not isinstance(channel, discord.abc.GuildChannel):
        return Room(Kind.UNKNOWN, str(getattr(channel, "id", "")) or None)
    return Room(Kind.PUBLIC if everyone_can_view(channel, guild) else Kind.PRIVATE, str(channel.id))


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
        flow: ChatFlow = interaction.client.flow  # type: ignore[attr-defined]
        text = await flow.vote(self.answer_id, str(interaction.user.id), self.vote == "up")
        await interaction.response.send_message(text, ephemeral=True, **QUIET)


def vote_view(answer_id: str | None) -> Any:
    if answer_id is None:
        return discord.utils.MISSING
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", answer_id))
    view.add_item(VoteButton("down", answer_id))
    return view


class Shown:
    """A message that shows work in progress (`edit` changes it, `more` sends further pages), then the result."""

    def __init__(self, edit: Any, more: Any, answer: bool, message: str | None = None) -> None:
        self.edit, self.more, self.answer, self.message = edit, more, answer, message

    async def show(self, text: str) -> None:
        await self.edit(content=streaming_text(text) if self.answer else text)

    async def finish(self, view: View, answer_id: str | None = None) -> None:
        pages = answer_pages(view) if isinstance(view, AnswerView) else [view_text(view)]
        await self.edit(content=pages[0], view=vote_view(answer_id) if len(pages) == 1 else discord.utils.MISSING)
        for i, page in enumerate(pages[1:], start=2):
            await self.more(page, view=vote_view(answer_id) if i == len(pages) else discord.utils.MISSING)


class DirectSurface:
    """Replies to one person by DM: the private path of a message, and what a reaction is answered with."""

    def __init__(self, user: discord.abc.User) -> None:
        self.user, self.address = user, {}

    async def send(self, view: View, private: bool = False) -> None:
        await self.user.send(view_text(view), **QUIET)

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Shown:
        shown = await self.user.send(waiting, **QUIET)
        return Shown(shown.edit, lambda page, view: self.user.send(page, view=view, **QUIET), answer, str(shown.id))


class MessageSurface:
    """Replies to a message: in a thread started on it (`thread`), or as a reply; privately by DM."""

    def __init__(self, message: discord.Message, thread: bool) -> None:
        self.source, self.thread, self.direct = message, thread, DirectSurface(message.author)
        self.address = {"channel": str(message.channel.id)}

    async def send(self, view: View, private: bool = False) -> None:
        if private:
            await self.direct.send(view)
        else:
            await self.source.reply(view_text(view), mention_author=False, **QUIET)

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Shown:
        if private:
            return await self.direct.open(waiting, answer=answer)
        place: Any = self.source.channel
        reply_to: discord.Message | None = self.source
        if answer and self.thread:
            try:
                place = await self.source.create_thread(name=self.source.content[:90] or "bitrag",
                                                        auto_archive_duration=1440)
                reply_to = None
            except discord.HTTPException:  # threads not allowed here: reply in the channel instead
                pass
        if answer:
            with contextlib.suppress(discord.HTTPException):
                await place.typing()  # "bitrag is typing…" until the first words
        shown = (await reply_to.reply(waiting, mention_author=False, **QUIET) if reply_to is not None
                 else await place.send(waiting, **QUIET))
        return Shown(shown.edit, lambda page, view: place.send(page, view=view, **QUIET), answer, str(shown.id))


class InteractionSurface:
    """Replies to an application command: its response (ephemeral when private), then follow-ups."""

    def __init__(self, interaction: discord.Interaction, private: bool = False) -> None:
        self.interaction, self.private = interaction, private
        self.address = {"channel": str(interaction.channel_id)}

    async def send(self, view: View, private: bool = False) -> None:
        await self._say(view_text(view), private)

    async def _say(self, text: str, private: bool) -> None:
        ephemeral = private or self.private
        if self.interaction.response.is_done():
            await self.interaction.followup.send(text, ephemeral=ephemeral, **QUIET)
        else:
            await self.interaction.response.send_message(text, ephemeral=ephemeral, **QUIET)

    async def open(self, waiting: str, private: bool = False, answer: bool = False) -> Shown:
        await self._say(waiting, private)  # within Discord's 3 seconds; SUPPRESS_EMBEDS is kept through edits
        return Shown(self.interaction.edit_original_response, lambda page, view: self.interaction.followup.send(
            page, view=view, ephemeral=private or self.private, **QUIET), answer)


class BitragDiscord(discord.Client):
    def __init__(self, core: Any, settings: Settings, feedback: FeedbackStore, **options: Any) -> None:
        settings.discord_bot_token()  # checked (naming the variable) before any network call
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: mentions and thread follow-ups need the text
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options)
        self.core, self.settings, self.feedback = core, settings, feedback
        self.jobs = JobStore(settings.uploads)
        self.flow = ChatFlow(core, feedback, self.jobs, settings, "discord", DISCORD_HELP)
        admins = parse_ids(settings.discord_admin_ids)
        self.admin_ids = frozenset(a for a in admins if not a.startswith("role:"))
        self.admin_roles = frozenset(a[5:] for a in admins if a.startswith("role:"))
        self._starting: asyncio.Task[int] | None = None
        self.tree = app_commands.CommandTree(self)
        self._register_commands()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(VoteButton)
        if self.core is not None:  # `bitrag doctor` logs in without a core, and must leave the jobs alone
            self._starting = asyncio.create_task(self.resume_jobs())  # in the background: connecting goes first
        guilds = [int(g) for g in self.settings.discord_guild_ids.replace(" ", "").split(",") if g]
        for guild_id in guilds:  # development: instant per-guild registration
            self.tree.copy_global_to(guild=discord.Object(guild_id))
            await self.tree.sync(guild=discord.Object(guild_id))
        if not guilds:  # production: global commands
            await self.tree.sync()

    def person(self, user: discord.abc.User, guild: discord.Guild | None,
               permissions: discord.Permissions | None = None) -> Person:
        """`permissions`: what Discord resolved for an interaction's user in its channel (preferred when given).
        Admins: Manage Server, or DISCORD_ADMIN_IDS (ids or role:<name or id>); never in a DM."""
        member = user if isinstance(user, discord.Member) else guild.get_member(user.id) if guild else None
        roles = tuple(n for r in (member.roles if member else []) for n in (r.name, str(r.id)))
        admin = member is not None and (str(user.id) in self.admin_ids or bool(self.admin_roles.intersection(roles))
                                        or bool((permissions or member.guild_permissions).manage_guild))
        return Person("discord", str(guild.id) if guild else None, str(user.id), admin=admin, roles=roles,
                      own=f"dm:{user.id}")  # a Discord DM belongs to no guild

    async def resume_jobs(self) -> int:
        """Finish or report the uploads a previous run accepted but did not complete, then check every channel
        whose documents serve a whole server (a gate added while bitrag was down)."""
        async def surface_at(address: dict[str, Any]) -> Any:
            channel = self.get_channel(int(address["channel"])) or await self.fetch_channel(int(address["channel"]))

            class Posted:
                async def send(self, view: View, private: bool = False) -> None:
                    await channel.send(view_text(view), **QUIET)  # type: ignore[union-attr]

            return Posted()

        resumed = await self.flow.resume(surface_at)
        await self.wait_until_ready()
        await self.flow.reconcile(self._still_public)
        return resumed

    async def _still_public(self, space: str, channel_id: str) -> bool | None:
        guild, channel = self.get_guild(int(space)), self.get_channel(int(channel_id))
        if guild is None or channel is None:
            return None
        return room_of(channel, guild).kind is Kind.PUBLIC

    async def on_guild_channel_update(self, before: Any, after: Any) -> None:
        """An overwrite changed (a gate added, a category re-synced): its channels may no longer be public."""
        for channel in [after, *getattr(after, "channels", [])]:
            if room_of(channel, after.guild).kind is not Kind.PUBLIC:
                await self.flow.narrow(str(after.guild.id), str(channel.id))

    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        """@everyone losing View Channel (a verification gate) makes every channel of the guild non-public."""
        if not after.is_default() or after.permissions.view_channel:
            return
        for channel in after.guild.channels:
            await self.on_guild_channel_update(channel, channel)

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
            return SourceFile(path=path, name=attachment.filename, key="", link=link)

        return await fetch_each(attachments, fetch, lambda attachment: attachment.filename)

    def _attachments(self, attachments: list[discord.Attachment], link: str | None) -> Upload | None:
        if not attachments:
            return None
        return Upload([a.filename for a in attachments], lambda folder: self.fetch_attachments(attachments, folder,
                                                                                                link))

    # --- messages --------------------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        thread = message.channel if isinstance(message.channel, discord.Thread) else None
        ours = thread is not None and thread.owner_id == self.user.id
        mentioned = any(u.id == self.user.id for u in message.mentions) and f"{self.user.id}>" in message.content
        reference = message.reference.resolved if message.reference else None
        replied = isinstance(reference, discord.Message) and reference.author.id == self.user.id
        if not (message.guild is None or ours or mentioned or replied):
            await self._help_question(message, thread)
            return
        history = await self._history(message, thread if ours else None, reference if replied else None)
        surface = MessageSurface(message, thread=not (message.guild is None or ours or replied))
        request = Message(" ".join(MENTION.sub(" ", message.content).split()),
                          self._attachments(list(message.attachments), message.jump_url), history)
        try:
            await self.flow.message(surface, self.person(message.author, message.guild),
                                    room_of(message.channel, message.guild), request)
        except discord.HTTPException as exc:
            log.warning("Discord API error while answering: %s %s", exc.status, exc.text)
            try:
                await message.channel.send(f"⚠️ Discord refused part of my answer ({exc.status}); please try again.",
                                           **QUIET)
            except discord.HTTPException:
                log.warning("Could not tell the user either")

    # --- help channels and solved threads --------------------------------------------------------------------

    async def _help_question(self, message: discord.Message, thread: discord.Thread | None) -> None:
        """A new message in a help channel (a forum's new post: its first message) that asks something: a threaded
        answer when confident, else a 🔍 so people know bitrag looked."""
        post = thread is not None and isinstance(thread.parent, discord.ForumChannel) and message.id == thread.id
        if message.guild is None or (thread is not None and not post):
            return
        room, text = room_of(message.channel, message.guild), " ".join(message.content.split())
        if not await self.flow.is_help_question(str(message.guild.id), room.conversation, text):
            return
        surface = MessageSurface(message, thread=not post)
        if not await self.flow.answer_if_confident(surface, self.person(message.author, message.guild), room, text):
            with contextlib.suppress(discord.HTTPException):
                await message.add_reaction("🔍")

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self._solved(event, filed=True)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self._solved(event, filed=False)

    async def _solved(self, event: discord.RawReactionActionEvent, filed: bool) -> None:
        """DISCORD_SOLVED_REACTION in a thread, by its asker or an admin: the thread is filed as a document of its
        audience; taken back, it is forgotten."""
        guild = self.get_guild(event.guild_id) if event.guild_id else None
        thread = guild.get_thread(event.channel_id) if guild else None
        if str(event.emoji) != self.settings.discord_solved_reaction or guild is None or thread is None:
            return
        try:
            user = event.member or guild.get_member(event.user_id) or await guild.fetch_member(event.user_id)
        except discord.HTTPException:
            return  # no longer a member
        person, room, key = self.person(user, guild), room_of(thread, guild), f"discord:solved:{thread.id}"
        if not filed:
            await self.flow.unfile_solved(person, room, key)
            return
        try:
            root = await (thread if isinstance(thread.parent, discord.ForumChannel) else thread.parent).fetch_message(
                thread.id)  # type: ignore[union-attr]
            replies = [m async for m in thread.history(limit=200, oldest_first=True) if m.id != root.id]
        except (discord.HTTPException, AttributeError) as exc:
            log.info("No thread to file at %s: %s", thread.id, exc)
            return
        messages = [(("Accepted answer — " if m.id == event.message_id != root.id else "") + m.author.display_name,
                     m.created_at.timestamp(), m.content) for m in (root, *replies)]
        await self.flow.file_solved(DirectSurface(user), person, room, str(root.author.id), key, messages,
                                    root.jump_url)

    async def on_raw_message_delete(self, event: discord.RawMessageDeleteEvent) -> None:
        """A thread's first message deleted: the thread filed from it is forgotten (a thread's id is its first
        message's)."""
        guild = self.get_guild(event.guild_id) if event.guild_id else None
        thread = guild.get_thread(event.message_id) if guild else None
        if guild is not None and thread is not None:
            bitrag = Person("discord", str(guild.id), "bitrag", admin=True)
            await self.flow.unfile_solved(bitrag, room_of(thread, guild), f"discord:solved:{thread.id}")

    async def _history(self, message: discord.Message, thread: discord.Thread | None,
                       replied_to: discord.Message | None) -> list[Turn]:
        earlier: list[discord.Message] = [replied_to] if replied_to is not None and thread is None else []
        if thread is not None:
            if isinstance(thread.parent, discord.TextChannel):
                with contextlib.suppress(discord.HTTPException):  # the question the thread was started on
                    earlier.append(await thread.parent.fetch_message(thread.id))
            earlier += [m async for m in thread.history(limit=50, before=message, oldest_first=True)]
        turns = [Turn("assistant", m.content.split("\n\n**Sources**")[0].split("\n\n**Closest")[0])
                 if self.user is not None and m.author.id == self.user.id
                 else Turn("user", " ".join(MENTION.sub(" ", m.content).split())) for m in earlier]
        return [t for t in turns if t.text]

    # --- app commands ----------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        tree, flow = self.tree, self.flow

        def facts(interaction: discord.Interaction) -> tuple[Person, Room]:
            return (self.person(interaction.user, interaction.guild, interaction.permissions),
                    room_of(interaction.channel, interaction.guild))

        @tree.command(name="ask", description="Ask a question about the documents readable here")
        @app_commands.describe(question="What do you want to know?")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            await flow.ask(InteractionSurface(interaction), *facts(interaction), question)

        @tree.command(name="ingest", description="Add files or a web page for the people who can read this channel")
        async def ingest(interaction: discord.Interaction, file: discord.Attachment | None = None,
                         file2: discord.Attachment | None = None, file3: discord.Attachment | None = None,
                         url: str | None = None) -> None:
            attachments = self._attachments([a for a in (file, file2, file3) if a is not None], None)
            text = f"ingest {url.strip()}" if url and url.strip() else "ingest"
            if attachments is None and text == "ingest":
                await interaction.response.send_message("Attach a file or give a `url`.", ephemeral=True, **QUIET)
                return
            await flow.message(InteractionSurface(interaction), *facts(interaction), Message(text, attachments))

        def listed(name: str) -> Any:
            async def run(interaction: discord.Interaction) -> None:
                await flow.command(InteractionSurface(interaction), *facts(interaction), name)
            return run

        def change(name: str) -> Any:
            @app_commands.describe(document="File name or id, as listed by /sources")
            async def run(interaction: discord.Interaction, document: str) -> None:
                await flow.command(InteractionSurface(interaction), *facts(interaction), name, document)
            return run

        for name, description in (("sources", "List the documents answers here may use"),
                                  ("audit", "Who added, replaced, shared or forgot which document (admins)"),
                                  ("help", "What bitrag can do")):
            tree.command(name=name, description=description)(listed(name))
        for name, description in (("forget", "Remove a document you added (admins: any)"),
                                  ("share", "Make a document readable by the whole server (admins)")):
            tree.command(name=name, description=description)(change(name))

        @tree.command(name="help-channel", description="Answer every question asked in this channel (admins)")
        @app_commands.describe(enabled="Answer questions here without a mention, when confident")
        async def help_channel(interaction: discord.Interaction, enabled: bool) -> None:
            await flow.command(InteractionSurface(interaction), *facts(interaction), "help-channel",
                               "on" if enabled else "off")

        @tree.context_menu(name="Add to knowledge base")
        async def add_message(interaction: discord.Interaction, message: discord.Message) -> None:
            """A message (with its attachments) becomes a document of this channel's audience, cited by its link."""
            await flow.keep(InteractionSurface(interaction, private=True), *facts(interaction),
                            f"discord:message:{message.channel.id}:{message.id}", "Discord message",
                            [(message.author.display_name, message.created_at.timestamp(), message.content)],
                            message.jump_url, self._attachments(list(message.attachments), message.jump_url))
