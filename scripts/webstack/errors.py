"""Errors a user can hit. Each carries a message that says what to do; the CLI prints it and exits 2."""

from __future__ import annotations


class WebstackError(Exception):
    """Base for every failure the CLI reports as a usage or infrastructure error (exit 2)."""

    exit_code = 2


class ToolchainError(WebstackError):
    """A required program (go, apt-get, helm, ...) is missing, too old, or failed to build."""


class HelmVersionError(ToolchainError):
    """The helm binary found is not a supported Helm 4 release."""


class HelmError(WebstackError):
    """helm itself failed (render, lint, install, ...); the message carries helm's own words."""


class InputError(WebstackError):
    """A file the user gave is missing or malformed; the message names the file and the place in it."""


class ClusterError(WebstackError):
    """A cluster could not be started, reached or used."""
