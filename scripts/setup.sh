#!/usr/bin/env bash
# Installs whatever is missing for Guichet: Debian packages, the app venv
# (Python 3.11, .venv) and the Rasa venv (Python 3.10, .venv-rasa), both from
# the lock files in requirements/. Re-running it does nothing if all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
# espeak-ng: speech for the callbot; chromium: browser tests; sox/baresip: call tests;
# asterisk-core-sounds-fr-wav: recorded French speech for the recogniser tests, and
# asterisk-core-sounds-fr: its /usr/share/asterisk/sounds/fr link and transcript.
# postgresql-15, redis-server, nginx: the scaled-out stack (make run-scaled, tests/scaled).
# kamailio: the town's SIP registrar and proxy in the PBX registration test.
# kannel (bearerbox, smsbox: the SMS gateway), kannel-extras (its fake SMS centre): SMS tests.
DEB_PACKAGES=(espeak-ng libespeak-ng1 sox chromium chromium-driver baresip asterisk-core-sounds-fr-wav asterisk-core-sounds-fr postgresql-15 redis-server nginx kamailio kannel kannel-extras)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

find_python() {  # $1 = minor version, e.g. 3.10
  local v=$1 c
  for c in "python$v" "$HOME/.pyenv/versions/$v"*/bin/python "$(command -v pyenv >/dev/null && pyenv root 2>/dev/null)/versions/$v"*/bin/python; do
    if [ -x "$(command -v "$c" 2>/dev/null || echo "$c")" ] && "$c" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

PY311=$(find_python 3.11) || { echo "setup: Python 3.11 not found (apt-get install python3.11 or 'pyenv install 3.11')." >&2; exit 1; }
PY310=$(find_python 3.10) || { echo "setup: Python 3.10 not found; Rasa 3.6 needs it. Install it with 'pyenv install 3.10' (https://github.com/pyenv/pyenv) or your distribution's python3.10." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY311"
  "$PY311" -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  .venv/bin/python -m pip install -q "uv==$UV_VERSION"
fi

sync_venv() {  # $1 = venv, $2 = lock file
  local stamp="$1/.guichet-lock.sha256" sum
  sum=$(sha256sum "$2" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "setup: installing $2 into $1"
    .venv/bin/uv pip sync -q --python "$1/bin/python" "$2"
    echo "$sum" > "$stamp"
  fi
}
sync_venv .venv requirements/app.lock

if [ ! -x .venv-rasa/bin/python ]; then
  echo "setup: creating .venv-rasa with $PY310"
  "$PY310" -m venv .venv-rasa
fi
sync_venv .venv-rasa requirements/rasa.lock
