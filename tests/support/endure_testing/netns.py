"""Hosts on one machine: a network namespace per host, joined to a bridge by a veth pair.

A :class:`Network` is a Linux bridge on the host side (its address, ``<subnet>.1``, is where
services of the host such as PostgreSQL listen for the hosts) and one network namespace per
:class:`Host` (``<subnet>.<10 + index>``), whose only interface is its end of a veth pair; the
other end is a port of the bridge. A process started in a host's namespace (``ip netns exec``,
see ``ServerProcess(netns=...)``) reaches the bridge's address and the other hosts only through
that link, so taking the link down (:meth:`Network.cut`) cuts it off from everything at once,
and a server there is reachable from the machine only at its host's address.

Needs root (or CAP_NET_ADMIN) and iproute2. Names carry a short tag so that several networks
can exist at once and a leftover one can be removed by tag (:func:`destroy_tagged`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``ip ARGS``; raises with its stderr when it fails (unless `check` is false)."""
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


@dataclass
class Host:
    index: int
    netns: str  # the namespace's name
    address: str  # its address on the bridge's subnet
    link: str  # the host-side end of its veth pair (a bridge port)


class Network:
    """A bridge `<tag>` with address ``<subnet>.1/24`` and hosts in namespaces."""

    def __init__(self, tag: str, subnet: str):
        if len(tag) > 8:
            raise ValueError(f"tag {tag!r}: at most 8 characters (interface names are short)")
        self.tag = tag
        self.subnet = subnet
        self.bridge = f"eb-{tag}"
        self.gateway = f"{subnet}.1"
        self.hosts: list[Host] = []

    def create(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_host(self) -> Host:
        i = len(self.hosts) + 1
        h = Host(i, f"endure-{self.tag}-{i}", f"{self.subnet}.{10 + i}", f"eh-{self.tag}-{i}")
        inner = f"en-{self.tag}-{i}"
        ip("netns", "add", h.netns)
        self.hosts.append(h)
        ip("link", "add", h.link, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", h.netns)
        ip("link", "set", h.link, "master", self.bridge)
        ip("link", "set", h.link, "up")
        ip("-n", h.netns, "addr", "add", f"{h.address}/24", "dev", inner)
        ip("-n", h.netns, "link", "set", inner, "up")
        ip("-n", h.netns, "link", "set", "lo", "up")
        return h

    def cut(self, host: Host) -> None:
        """Takes the host's link down: nothing goes in or out until :meth:`restore`."""
        ip("link", "set", host.link, "down")

    def restore(self, host: Host) -> None:
        ip("link", "set", host.link, "up")

    def is_cut(self, host: Host) -> bool:
        out = ip("-o", "link", "show", host.link).stdout
        return "state UP" not in out and ",UP" not in out and "<UP" not in out

    def destroy(self) -> None:
        """Removes the namespaces (their veth pairs go with them) and the bridge. Never fails."""
        destroy_tagged(self.tag)


def destroy_tagged(tag: str) -> None:
    """Removes every namespace, veth and bridge a :class:`Network` with `tag` made."""
    listed = ip("netns", "list", check=False).stdout.split()
    for name in listed:
        if name.startswith(f"endure-{tag}-"):
            ip("netns", "del", name, check=False)
    links = ip("-o", "link", "show", check=False).stdout.splitlines()
    for line in links:
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        if name.startswith(f"eh-{tag}-") or name == f"eb-{tag}":
            ip("link", "del", name, check=False)
