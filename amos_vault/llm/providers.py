"""Language-model providers behind one small protocol; the Ollama provider uses `ollama`.

Only this module knows the `ollama` client. Errors come out typed, each saying what to do:
the server unreachable ("is `ollama serve` running at URL?"), the model missing ("run
`ollama pull NAME`"), too slow, or the connection dropped in the middle of an answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from amos_vault.core.errors import AmosError

DEFAULT_HOST = "http://127.0.0.1:11434"


class LLMError(AmosError):
    """The model could not produce an answer."""


class ModelUnreachableError(LLMError):
    """No model server answers at the configured address."""


class ModelMissingError(LLMError):
    """The server runs, but does not have the configured model."""


class LLMProvider(Protocol):
    """Something that answers a chat, piece by piece."""

    name: str
    model: str

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        format: dict[str, Any] | str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """Stream the reply to ``messages`` (``{"role", "content"}`` each) as text pieces."""
        ...

    def models(self) -> list[str]:
        """Names of the models the provider can use."""
        ...


class OllamaProvider:
    """An `LLMProvider` backed by an Ollama server (or anything speaking its protocol)."""

    name = "ollama"

    def __init__(
        self, host: str = DEFAULT_HOST, model: str = "llama3.2", timeout: float = 120.0
    ) -> None:
        self.host = host.rstrip("/")
        self.model = model
        self.timeout = timeout
        try:
            # Importing `ollama` builds its default client from OLLAMA_HOST, so a bad address
            # there fails the import itself, before our own host is even looked at.
            import ollama

            self._client = ollama.Client(host=self.host, timeout=timeout)
        except ValueError as exc:
            raise ModelUnreachableError(
                f"the Ollama address {host!r} is not valid ({exc})",
                hint="check OLLAMA_HOST, or [llm] host in .amos/config.toml "
                "(e.g. http://127.0.0.1:11434)",
            ) from None

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        format: dict[str, Any] | str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """Stream the reply; ``format`` is "json" or a JSON schema.

        Raises `LLMError` subclasses, never the client's own errors.
        """
        client: Any = self._client  # its overloads do not accept a plain str format
        with self._translated_errors():
            stream = client.chat(
                model=self.model,
                messages=[dict(m) for m in messages],
                stream=True,
                format=format,
                options=dict(options) if options else None,
            )
            for chunk in stream:
                piece = chunk.message.content if chunk.message else ""
                if piece:
                    yield piece

    def models(self) -> list[str]:
        """Models the server has."""
        with self._translated_errors():
            listing = self._client.list()
        return [str(m.model) for m in listing.models if m.model]

    def _translated_errors(self) -> Any:
        import contextlib

        import httpx
        import ollama

        provider = self

        @contextlib.contextmanager
        def translate() -> Iterator[None]:
            try:
                yield
            except ollama.ResponseError as exc:
                if exc.status_code == 404 and "not found" in str(exc.error).lower():
                    raise ModelMissingError(
                        f"the model {provider.model!r} is not on the Ollama server at "
                        f"{provider.host}",
                        hint=f"run `ollama pull {provider.model}`, or choose another with --model",
                    ) from None
                raise LLMError(f"the Ollama server answered with an error: {exc.error}") from None
            except httpx.TimeoutException:
                raise LLMError(
                    f"the model did not answer within {provider.timeout:g} s",
                    hint="try again, use a smaller model, or raise [llm] timeout_seconds",
                ) from None
            except (httpx.ConnectError, ConnectionError) as exc:
                raise ModelUnreachableError(
                    f"no Ollama server answers at {provider.host} ({exc})",
                    hint=f"is `ollama serve` running at {provider.host}? "
                    "(OLLAMA_HOST sets the address)",
                ) from None
            except httpx.UnsupportedProtocol as exc:
                raise ModelUnreachableError(
                    f"the Ollama address {provider.host} is not http(s) ({exc})",
                    hint="check OLLAMA_HOST, or [llm] host (e.g. http://127.0.0.1:11434)",
                ) from None
            except (httpx.HTTPError, ValueError) as exc:
                raise LLMError(
                    f"the connection to {provider.host} dropped in the middle of the answer "
                    f"({exc})",
                    hint="try again; what was already received is kept",
                ) from None

        return translate()


def open_provider(provider: str, host: str, model: str, timeout: float) -> LLMProvider:
    """The configured provider: ``ollama``, or one a plugin adds (entry point group
    ``amos_vault.providers``, called with (host, model, timeout))."""
    if provider == "ollama":
        return OllamaProvider(host, model, timeout)
    from amos_vault.core.plugins import plugin_providers

    factories = plugin_providers()
    if provider not in factories:
        raise LLMError(
            f"unknown LLM provider {provider!r}",
            hint=f"use one of: {', '.join(sorted({'ollama', *factories}))} ([llm] provider)",
        )
    made: LLMProvider = factories[provider](host, model, timeout)
    return made
