"""One small error hierarchy: every user-facing failure names its place and its exit code."""

from __future__ import annotations

from collections.abc import Iterable


def format_place(file: str, line: int | None, column: int | None) -> str:
    """``file:line:column``, leaving out what is unknown."""
    if line is None:
        return file
    return f"{file}:{line}" if column is None else f"{file}:{line}:{column}"


class MlopsDashError(Exception):
    """Base of all errors the CLI reports without a traceback."""

    exit_code = 1


class SpecError(MlopsDashError):
    """A problem in a spec file, at a place: file, line, column and field path."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        path: str = "",
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        super().__init__(self.format())

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only fields: pickle (parallel builds send errors between processes) by state
        return (_spec_error, (self.file, self.message, self.line, self.column, self.path))

    def format(self) -> str:
        field = f" {self.path}:" if self.path else ""
        return f"{format_place(self.file, self.line, self.column)}:{field} {self.message}"


class SpecErrors(MlopsDashError):
    """Several spec errors found in one pass, reported together."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors = sorted(
            errors, key=lambda e: (e.file, e.line or 0, e.column or 0, e.path, e.message)
        )
        super().__init__("\n".join(e.format() for e in self.errors))

    def __reduce__(self) -> tuple[object, ...]:
        return (SpecErrors, (self.errors,))


def _spec_error(file: str, message: str, line: int | None, column: int | None,
                path: str) -> SpecError:
    return SpecError(file, message, line=line, column=column, path=path)


class BuildError(MlopsDashError):
    """The build cannot produce correct output (for example, it would be empty)."""


class EnvironmentProblem(MlopsDashError):
    """A usage or environment problem: a missing tool, an unreadable folder (exit 2)."""

    exit_code = 2
