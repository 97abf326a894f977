"""Where jobs live and how long they are kept: the Jobs table and its two durations, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bgremove import env

__all__ = ["DEFAULT_DEADLINE_MINUTES", "DEFAULT_RETENTION_DAYS", "Env", "JobsSettings"]

DEFAULT_RETENTION_DAYS = 7
"""Default of ``JOB_RETENTION_DAYS``: how long DynamoDB keeps a job record (TTL)."""

RETENTION_DAYS_RANGE = (1, 365)

DEFAULT_DEADLINE_MINUTES = 15
"""Default of ``JOB_DEADLINE_MINUTES``: how long a job may stay unfinished before it is ``FAILED``."""

DEADLINE_MINUTES_RANGE = (1, 1440)


class Env:
    """Environment variables the job machinery reads (template.yaml sets them)."""

    JOBS_TABLE = "JOBS_TABLE"
    JOB_RETENTION_DAYS = "JOB_RETENTION_DAYS"
    JOB_DEADLINE_MINUTES = "JOB_DEADLINE_MINUTES"


@dataclass(frozen=True)
class JobsSettings:
    """Where jobs live and how long they are kept.

    Parameters
    ----------
    jobs_table
        The DynamoDB ``Jobs`` table (``JOBS_TABLE``).
    retention_days
        Days a job record is kept (``JOB_RETENTION_DAYS``, DynamoDB TTL). The stored input follows the
        input bucket's lifecycle (``InputRetentionDays``) and the output the output bucket's.
    deadline_minutes
        Minutes a job may stay unfinished before it is ``FAILED`` with ``JOB_TIMED_OUT``
        (``JOB_DEADLINE_MINUTES``, template parameter ``JobDeadlineMinutes``).
    """

    jobs_table: str
    retention_days: int = DEFAULT_RETENTION_DAYS
    deadline_minutes: int = DEFAULT_DEADLINE_MINUTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobsSettings:
        """The settings ``environ`` (default ``os.environ``) gives.

        Raises
        ------
        bgremove.ConfigurationError
            ``JOBS_TABLE`` is unset, or a duration is not a whole number in its range (the variable named).
        """
        variables = os.environ if environ is None else environ
        return cls(
            jobs_table=env.required(variables, Env.JOBS_TABLE),
            retention_days=env.whole_number(
                variables, Env.JOB_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, *RETENTION_DAYS_RANGE
            ),
            deadline_minutes=env.whole_number(
                variables, Env.JOB_DEADLINE_MINUTES, DEFAULT_DEADLINE_MINUTES, *DEADLINE_MINUTES_RANGE
            ),
        )
