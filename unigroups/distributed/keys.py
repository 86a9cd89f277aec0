"""Where one job's records live in Redis: every key under one prefix per job."""

from __future__ import annotations

import re

import attrs

from ..errors import ValidationError

__all__ = ["JobKeys", "check_job_id"]

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_job_id(value: object) -> str:
    """``value`` if it can name a job (letters, digits, ``._:-``, at most 128), else
    ValidationError."""
    if not isinstance(value, str) or not _JOB_ID.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a job id (1 to 128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit)",
            field="job_id",
        )
    return value


@attrs.frozen
class JobKeys:
    """The Redis keys of job ``job``: ``{prefix}{job}:...``."""

    job: str = attrs.field(converter=check_job_id)
    prefix: str = "unigroups:job:"

    @property
    def base(self) -> str:
        return f"{self.prefix}{self.job}:"

    @property
    def meta(self) -> str:
        """Hash: the target's name, the number of parts and operations."""
        return self.base + "meta"

    @property
    def target(self) -> str:
        """String: the journal's target (backend and fingerprint), set by the first run."""
        return self.base + "target"

    @property
    def states(self) -> str:
        """Hash: operation key -> its journal line (the file journal's line shape)."""
        return self.base + "states"

    @property
    def finished(self) -> str:
        """Set: the parts whose run ended."""
        return self.base + "finished"

    def operations(self, part: int) -> str:
        """List: part ``part``'s operations, in input order, as ``[number, operation]``."""
        return f"{self.base}ops:{part}"

    def lock(self, part: int) -> str:
        """String with a lease: the token of the run that holds part ``part``."""
        return f"{self.base}lock:{part}"
