# Sourced by bin/test, bin/dev and the other bin/ scripts: makes a fresh machine ready.
# - uv (installed with pip when missing), the locked environment in .venv (uv sync --frozen)
# - bubblewrap for sandbox isolation, where this machine lets us install it (root + apt-get);
#   without it Kiln still runs, with sandboxes in plain process sessions.
set -euo pipefail
KILN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$KILN_ROOT"
export PATH="$HOME/.local/bin:$PATH"

kiln_say() { echo "kiln: $*" >&2; }

if ! command -v uv >/dev/null 2>&1; then
  kiln_say "installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi

uv sync --frozen --quiet

kiln_apt_install() {  # kiln_apt_install PACKAGE... : best effort, quiet
  [ "${KILN_NO_APT:-}" = "1" ] && return 1
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! command -v bwrap >/dev/null 2>&1; then
  kiln_apt_install bubblewrap && kiln_say "installed bubblewrap" \
    || kiln_say "bubblewrap not available: sandboxes fall back to process sessions"
fi
