"""Network for local sandboxes. Every bwrap command gets a network namespace of its own
(`--unshare-net`: a loopback only, no route anywhere). A command granted egress gets user-mode
networking from slirp4netns on top, and an nft table inside its namespace that rejects private,
link-local, loopback and multicast ranges and this host's own addresses and networks: the public
internet only, never Kiln's API, Redis, another tenant's preview or a cloud metadata endpoint.

slirp4netns (`--disable-host-loopback`, its own mount namespace and seccomp filter) rather than
pasta: pasta's defaults here map the sandbox's loopback to the host's. Namespaces are handed to
helpers as file descriptors. A root worker acts on them from the host's user namespace; a
non-root one must join the namespace's owner, bwrap's outer user namespace, which only
`NS_GET_USERNS` on the network namespace names (/proc/<pid>/ns/user is a nested one).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

EGRESS_MODES = ("none", "install", "open")  # KILN_SANDBOX_EGRESS
DNS = "10.0.2.3"  # slirp4netns's DNS forwarder (to the host's resolver)
RESOLV_CONF = f"nameserver {DNS}\n"
TAP = "tap0"
_NS_GET_USERNS = (0xB7 << 8) | 1  # linux/nsfs.h

# Never reachable from a sandbox, whatever else the host routes.
BLOCKED_V4 = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
              "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15",
              "224.0.0.0/3")


def grants(mode: str, asked: bool) -> bool:
    """Whether a command gets public egress: `open` always, `install` when the caller asks for
    it (dependency installation), `none` never."""
    return mode == "open" or (mode == "install" and asked)


def host_networks() -> list[str]:
    """This host's own IPv4 addresses and directly connected networks (slirp connects from the
    host, so without these a sandbox would reach services bound to the host's LAN address)."""
    nets: set[str] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for prev, line in zip(lines, lines[1:], strict=False):
            if line.strip() == "/32 host LOCAL":
                nets.add(prev.split()[-1] + "/32")
    with contextlib.suppress(OSError):
        for row in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = row.split()
            if len(fields) >= 8 and fields[2] == "00000000" and fields[1] != "00000000":
                dest = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
                mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
                nets.add(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return sorted(nets)


def ruleset(extra_blocked: list[str]) -> str:
    blocked = ", ".join(sorted(set(BLOCKED_V4) | set(extra_blocked)))
    return f"""table inet kiln {{
  chain output {{
    type filter hook output priority 0; policy accept;
    oifname "lo" accept
    ip daddr {DNS} udp dport 53 accept
    ip daddr {DNS} tcp dport 53 accept
    ip daddr {{ {blocked} }} reject with icmp type admin-prohibited
    meta nfproto ipv6 reject
  }}
}}
"""


def tools_present() -> bool:
    return all(shutil.which(tool) for tool in ("slirp4netns", "nft", "nsenter"))


@contextlib.contextmanager
def namespace_fds(ns_pid: int) -> Iterator[tuple[int, int]]:
    """(network namespace fd, fd of the user namespace that owns it) of a sandboxed process."""
    net = os.open(f"/proc/{ns_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        owner = fcntl.ioctl(net, _NS_GET_USERNS)
        try:
            yield net, owner
        finally:
            os.close(owner)
    finally:
        os.close(net)


def enter_argv(net_fd: int, user_fd: int) -> list[str]:
    """`nsenter` into a sandbox command's network namespace. Root may act on any namespace
    from the host's user namespace; a non-root worker must join the namespace's owner (keeping
    its uid: it has no uid 0 to become there). Joining as root would race bwrap writing that
    namespace's uid map (measured: nft then refused ~1 launch in 12)."""
    nsenter = shutil.which("nsenter") or "nsenter"
    if os.geteuid() == 0:
        return [nsenter, f"--net=/proc/self/fd/{net_fd}", "--"]
    return [nsenter, "--preserve-credentials", f"--user=/proc/self/fd/{user_fd}",
            f"--net=/proc/self/fd/{net_fd}", "--"]


def wait_for_loopback(ns_pid: int, timeout_s: float = 5.0) -> None:
    """bwrap reports its sandbox before the namespace's loopback is up; slirp4netns started
    earlier fails (`Failed RTM_NEWADDR`)."""
    end = time.monotonic() + timeout_s
    while "127.0.0.1" not in Path(f"/proc/{ns_pid}/net/fib_trie").read_text():
        if time.monotonic() > end:
            raise OSError("the sandbox's loopback did not come up")
        time.sleep(0.0005)


def attach_egress(ns_pid: int, exit_fd: int, prefix: list[str], env: dict[str, str],
                  log_path: Path, timeout_s: float = 10.0) -> subprocess.Popen[bytes]:
    """Give the namespace of `ns_pid` public egress: slirp4netns up, then the nft table.
    slirp4netns exits by itself once every copy of `exit_fd`'s write end (held by the
    sandboxed command) is closed. Raises OSError when the network cannot be set up."""
    wait_for_loopback(ns_pid)
    ready_r, ready_w = os.pipe()
    with namespace_fds(ns_pid) as (net, owner), open(log_path, "ab") as log_file:
        userns = "/proc/self/ns/user" if os.geteuid() == 0 else f"/proc/self/fd/{owner}"
        argv = [*prefix, shutil.which("slirp4netns") or "slirp4netns", "--configure",
                "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
                f"--ready-fd={ready_w}", f"--exit-fd={exit_fd}", "--netns-type=path",
                f"--userns-path={userns}", f"/proc/self/fd/{net}", TAP]
        try:
            slirp = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                     stderr=subprocess.STDOUT, pass_fds=(ready_w, exit_fd, net,
                                                                         owner),
                                     start_new_session=True)
        finally:
            os.close(ready_w)
        try:
            if _read_ready(ready_r, timeout_s) != b"1":
                raise OSError(f"slirp4netns did not come up (see {log_path.name})")
            rules = ruleset(host_networks())
            done = subprocess.run([*enter_argv(net, owner), shutil.which("nft") or "nft", "-f",
                                   "-"], input=rules.encode(), capture_output=True,
                                  pass_fds=(net, owner), timeout=timeout_s, env=env)
            if done.returncode != 0:
                raise OSError(f"nft refused the sandbox ruleset: {done.stderr.decode()[-300:]}")
        except BaseException:
            slirp.kill()
            slirp.wait()
            raise
        finally:
            os.close(ready_r)
    return slirp


def _read_ready(fd: int, timeout_s: float) -> bytes:
    end = time.monotonic() + timeout_s
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            return os.read(fd, 1)
    return b""
