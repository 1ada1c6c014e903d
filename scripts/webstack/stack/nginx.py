"""Rewrite a rendered nginx configuration to run on loopback from a temporary prefix.

Only two kinds of change are made, and `rewrite` returns a list saying which:
- file paths: anything under one of the container's mount paths moves under the prefix, and the
  pid file, temp paths and log files that point elsewhere in the image's file system move to the
  prefix too (the image's read-only paths such as /etc/nginx/mime.types are left alone: Debian's
  nginx package has the same files);
- ports: each `listen [addr:]PORT` becomes `listen 127.0.0.1:<free port>` (the chart listens on all
  addresses inside a pod; on a shared machine we listen on loopback only, on ports that are free).
  IPv6 listens are dropped (loopback IPv4 carries the tests).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping

from webstack.errors import InputError
from webstack.nginx_conf import strip_comments

_LISTEN = re.compile(r"(^|[;{}\s])listen\s+([^;\s]+)([^;]*);", re.MULTILINE)
_PATH_DIRECTIVES = re.compile(
    r"(^|[;{}\s])(pid|client_body_temp_path|proxy_temp_path|fastcgi_temp_path|uwsgi_temp_path|"
    r"scgi_temp_path|error_log|access_log)\s+(\"[^\"]+\"|'[^']+'|[^;\s]+)",
    re.MULTILINE,
)
# Directives whose first argument is a file or folder (URL paths, as in `location /tmp`, are not).
_FILE_ARG = re.compile(
    r"(^|[;{}\s])(include|root|alias|load_module|auth_basic_user_file|ssl_[a-z_]+|pid|error_log|access_log|"
    r"[a-z_]+_temp_path)\s+[\"']?(/[^\s;\"'{}]*)",
    re.MULTILINE,
)
_STD_STREAMS = ("/dev/stdout", "/dev/stderr", "/proc/self/fd/1", "/proc/self/fd/2")


def listen_ports(conf: str) -> list[int]:
    """The ports `listen` directives name (IPv4 or bare ports), in order, without repeats."""
    ports: list[int] = []
    for m in _LISTEN.finditer(strip_comments(conf)):
        addr = m.group(2)
        if addr.startswith("["):
            continue
        port = int(addr.rsplit(":", 1)[-1]) if addr.rsplit(":", 1)[-1].isdigit() else None
        if port is not None and port not in ports:
            ports.append(port)
    return ports


def rewrite(conf: str, where: str, host_path: Callable[[str], str | None], state_dir: str,
            ports: Mapping[int, int]) -> tuple[str, list[str]]:
    """Return the rewritten configuration and a list of the changes made.

    host_path maps a path inside the container to where its mount lives on this machine (None when
    the path is not under a mount); state_dir receives pid/temp/log files the image kept elsewhere.
    """
    changes: list[str] = []
    conf = strip_comments(conf)

    def listen(m: re.Match[str]) -> str:
        lead, addr, rest = m.group(1), m.group(2), m.group(3)
        if addr.startswith("["):
            changes.append(f"dropped IPv6 listen {addr}")
            return lead
        port_text = addr.rsplit(":", 1)[-1]
        if not port_text.isdigit():
            raise InputError(f"{where}: listen {addr!r}: expected [address:]port")
        port = int(port_text)
        if port not in ports:
            raise InputError(f"{where}: listen {addr}: no free port was mapped for {port} "
                             f"(mapped: {', '.join(map(str, ports)) or 'none'})")
        new = f"127.0.0.1:{ports[port]}"
        changes.append(f"listen {addr} → {new}")
        return f"{lead}listen {new}{rest};"

    conf = _LISTEN.sub(listen, conf)

    def path_directive(m: re.Match[str]) -> str:
        lead, name, raw = m.groups()
        path = raw.strip("\"'")
        if not path.startswith("/") or path in _STD_STREAMS or host_path(path) is not None:
            return m.group(0)  # off, stderr, a std stream, or under a mount (handled below)
        new = posixpath.join(state_dir, name, posixpath.basename(path) or name)
        changes.append(f"{name} {path} → {new}")
        return f"{lead}{name} {new}"

    conf = _PATH_DIRECTIVES.sub(path_directive, conf)

    def mounted(m: re.Match[str]) -> str:
        path = m.group(3)
        new = host_path(path)
        if new is None:
            return m.group(0)
        changes.append(f"{path} → {new}")
        return m.group(0)[: m.start(3) - m.start(0)] + new

    conf = _FILE_ARG.sub(mounted, conf)
    return conf, changes


def state_paths(conf: str) -> list[str]:
    """Directories nginx must be able to write: temp paths, and folders of pid and log files."""
    out = []
    for m in _PATH_DIRECTIVES.finditer(conf):
        name, path = m.group(2), m.group(3).strip("\"'")
        if not path.startswith("/") or path in _STD_STREAMS:
            continue
        out.append(path if name.endswith("_temp_path") else posixpath.dirname(path))
    return out
