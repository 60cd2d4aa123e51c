"""Audio (voice messages, huddle clips, recorded meetings) → text by Groq's Whisper API, cited by time range.

Groq accepts at most `max_upload_mb` per request, so longer recordings are cut first: WAV with the standard library,
other formats with ffmpeg when it is installed (without it, a clear message). Segment timestamps of every part are
shifted by the part's start, and segments are grouped into documents cited as "00:01:05–00:01:40".
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core import Document

from rag.errors import ParseError

GROUP_SECONDS = 60.0  # a citation points at about a minute of speech


def clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class GroqTranscriber:
    """Callable as `ingest.parser.Transcribe`; runs in a worker thread (the sync groq client)."""

    def __init__(self, api_key: str, base_url: str | None, model: str, max_upload_mb: float, timeout_s: float,
                 max_retries: int) -> None:
        from groq import Groq

        self._client = Groq(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries)
        self._model = model
        self._max_bytes = int(max_upload_mb * 1024 * 1024)

    def __call__(self, path: Path, name: str) -> list[Document]:
        segments: list[tuple[float, float, str]] = []
        with tempfile.TemporaryDirectory(prefix="bitrag-audio-") as scratch:
            for part, offset in self._parts(path, name, Path(scratch)):
                segments += [(offset + start, offset + end, text) for start, end, text in self._transcribe(part, name)]
        documents = list(group_segments(segments))
        if not documents:
            raise ParseError(f"{name}: the transcription found no speech.")
        return documents

    def _transcribe(self, part: Path, name: str) -> list[tuple[float, float, str]]:
        import groq

        try:
            result = self._client.audio.transcriptions.create(
                file=(name if part.suffix == Path(name).suffix else part.name, part.read_bytes()), model=self._model,
                response_format="verbose_json", timestamp_granularities=["segment"])
        except groq.AuthenticationError:
            raise ParseError(f"{name}: Groq refused the API key (GROQ_API_KEY) for transcription; check it.") from None
        except groq.APIStatusError as exc:
            raise ParseError(f"{name}: transcription failed (Groq answered HTTP {exc.status_code}); try again "
                             "later.") from None
        except groq.APIError as exc:
            raise ParseError(f"{name}: transcription failed ({type(exc).__name__}); try again later.") from None
        extra: dict[str, Any] = result.model_extra or {}
        segments = extra.get("segments") or [{"start": 0.0, "end": float(extra.get("duration") or 0),
                                              "text": result.text}]
        return [(float(s["start"]), float(s["end"]), str(s["text"]).strip()) for s in segments if s.get("text")]

    def _parts(self, path: Path, name: str, scratch: Path) -> Iterator[tuple[Path, float]]:
        """The file itself when small enough, else pieces under the limit with their start times (seconds)."""
        size = path.stat().st_size
        if size <= self._max_bytes:
            yield path, 0.0
            return
        count = math.ceil(size / (self._max_bytes * 0.95))
        if path.suffix.lower() == ".wav":
            yield from split_wav(path, count, scratch)
        elif shutil.which("ffmpeg"):
            yield from split_with_ffmpeg(path, count, scratch)
        else:
            raise ParseError(f"{name} is {size / 2**20:.0f} MB, over the {self._max_bytes / 2**20:.0f} MB Groq "
                             "transcribes at once, and ffmpeg (which bitrag uses to cut it) is not installed. "
                             "Install ffmpeg, or upload it as WAV or in shorter parts.")


def split_wav(path: Path, count: int, scratch: Path) -> Iterator[tuple[Path, float]]:
    with wave.open(str(path), "rb") as source:
        params = source.getparams()
        frames_per_part = math.ceil(params.nframes / count)
        for index in range(count):
            frames = source.readframes(frames_per_part)
            if not frames:
                return
            part = scratch / f"part{index:03d}.wav"
            with wave.open(str(part), "wb") as sink:
                sink.setparams(params)
                sink.writeframes(frames)
            yield part, index * frames_per_part / params.framerate


def split_with_ffmpeg(path: Path, count: int, scratch: Path) -> Iterator[tuple[Path, float]]:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(path)], capture_output=True, text=True, check=False)
    try:
        duration = float(probe.stdout.strip())
    except ValueError:
        raise ParseError(f"{path.name} is not readable audio (ffprobe found no duration).") from None
    length = duration / count
    for index in range(count):
        part = scratch / f"part{index:03d}{path.suffix.lower()}"
        subprocess.run(["ffmpeg", "-v", "error", "-ss", str(index * length), "-t", str(length), "-i", str(path),
                        "-c", "copy", str(part)], check=True, capture_output=True)
        yield part, index * length


def group_segments(segments: list[tuple[float, float, str]]) -> Iterator[Document]:
    batch: list[tuple[float, float, str]] = []
    for segment in segments:
        if batch and segment[1] - batch[0][0] > GROUP_SECONDS:
            yield _document(batch)
            batch = []
        batch.append(segment)
    if batch:
        yield _document(batch)


def _document(batch: list[tuple[float, float, str]]) -> Document:
    return Document(text=" ".join(text for _, _, text in batch),
                    metadata={"time": f"{clock(batch[0][0])}–{clock(batch[-1][1])}"})
