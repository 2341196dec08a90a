"""The one exception the data layer raises for unusable dataset files (launchers map it to an exit code)."""


class DatasetError(Exception):
    """A dataset file is missing, corrupt or unreadable; the one-line message names the file and the fix."""
