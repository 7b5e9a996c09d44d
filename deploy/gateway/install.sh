#!/bin/bash
# Install firegate on a gateway (Debian, Raspberry Pi OS, Ubuntu; run as root):
#   deploy/gateway/install.sh [--config FILE] [--source DIR_OR_WHEEL] [--no-start]
# Makes the unprivileged user "firegate" (in group dialout for the RS-485 ports), a virtual
# environment in /opt/firegate/venv with firegate installed WITHOUT the [grafana] extra, the
# configuration folder /etc/firegate (your FILE becomes /etc/firegate/firegate.yaml; an existing
# one is kept), the data folder /var/lib/firegate, the systemd unit and the journald limits. It
# checks the configuration before enabling the service.
# DESTDIR=/some/dir only lays the files out under that folder (no user, venv or systemctl): for
# packaging and for the project's tests.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
config=""
source="$repo"
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="${2:?--config needs a file}"; shift 2 ;;
    --source) source="${2:?--source needs a folder or a wheel}"; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

root="${DESTDIR:-}"
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install: run as root (sudo $0 ...)" >&2
  exit 1
fi
if [ -n "$config" ] && [ ! -f "$config" ]; then
  echo "install: configuration $config not found" >&2
  exit 2
fi

say() { echo "install: $*"; }

if [ -z "$root" ]; then
  if ! id firegate >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/firegate \
      --shell /usr/sbin/nologin --comment "firegate gateway" firegate
    say "user firegate created"
  fi
  usermod -a -G dialout firegate
fi

install -d -m 0755 "$root/opt/firegate" "$root/etc/systemd/system" \
  "$root/etc/systemd/journald.conf.d"
install -d -m 0750 "$root/etc/firegate" "$root/var/lib/firegate"

if [ -z "$root" ]; then
  chown root:firegate "$root/etc/firegate"
  chown firegate:firegate "$root/var/lib/firegate"
  if [ ! -x /opt/firegate/venv/bin/python ]; then
    python3 -m venv /opt/firegate/venv
  fi
  /opt/firegate/venv/bin/pip install --quiet --upgrade pip
  /opt/firegate/venv/bin/pip install --quiet --upgrade "$source"
  say "firegate installed in /opt/firegate/venv ($(/opt/firegate/venv/bin/pip show firegate \
    | sed -n 's/^Version: //p'))"
fi

if [ -n "$config" ]; then
  if [ -f "$root/etc/firegate/firegate.yaml" ]; then
    say "/etc/firegate/firegate.yaml exists, kept (compare with $config)"
  else
    install -m 0640 "$config" "$root/etc/firegate/firegate.yaml"
    say "configuration installed as /etc/firegate/firegate.yaml"
  fi
fi
if [ ! -f "$root/etc/firegate/firegate.env" ]; then
  install -m 0640 "$here/firegate.env.example" "$root/etc/firegate/firegate.env"
  say "fill in the secrets in /etc/firegate/firegate.env"
fi
[ -z "$root" ] && chown root:firegate "$root/etc/firegate/"*

install -m 0644 "$here/firegate.service" "$root/etc/systemd/system/firegate.service"
install -m 0644 "$here/journald-firegate.conf" "$root/etc/systemd/journald.conf.d/firegate.conf"
say "unit and journald limits installed"

if [ -n "$root" ]; then
  say "files laid out under $root"
  exit 0
fi

systemctl daemon-reload
systemctl restart systemd-journald
if [ ! -f /etc/firegate/firegate.yaml ]; then
  say "no /etc/firegate/firegate.yaml yet: copy one (see deploy/examples/), then"
  say "  systemctl enable --now firegate"
  exit 0
fi
set -a
# shellcheck disable=SC1091
. /etc/firegate/firegate.env
set +a
if ! runuser -u firegate -- /opt/firegate/venv/bin/firegate check -c /etc/firegate/firegate.yaml; then
  say "the configuration has problems (above); fix them, then: systemctl enable --now firegate"
  exit 2
fi
if [ "$start" -eq 1 ]; then
  systemctl enable --now firegate
  say "firegate started; follow it with: journalctl -u firegate -f"
else
  systemctl enable firegate
  say "firegate enabled; start it with: systemctl start firegate"
fi
