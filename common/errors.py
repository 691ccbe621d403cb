"""Errors a job reports to its user as one line, without a stack trace."""


class JobError(Exception):
    """A failure whose message alone tells the user what is wrong (exit code 1)."""

    exit_code = 1


class InputError(JobError):
    """The input is missing, empty or unusable."""


class ValidationError(JobError):
    """Data failed a dataset-level expectation; the run stops before it looks complete."""
