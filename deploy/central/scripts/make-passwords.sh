#!/bin/bash
# Make the broker's password file and ACL, and the InfluxDB and Grafana secrets.
#   scripts/make-passwords.sh GATEWAYS_FILE [OPERATORS_FILE]
# GATEWAYS_FILE: one gateway per line, "SITE GATEWAY_ID" (the gateway's site and id from its
# configuration). OPERATORS_FILE: one operator user name per line. Blank lines and # comments are
# ignored. Passwords already made are kept (secrets/credentials/), so the script can be run again
# after adding a gateway. Each gateway may write only firegate/SITE/GATEWAY_ID/# and read its own
# cmd/ topics; operators may read everything under firegate/ and write only their own command
# topics, firegate/+/+/cmd/LOGIN/# (the gateway takes the operator from the topic: a login
# cannot command in another operator's name).
# The desk (`firegate desk`, login FIREGATE_DESK_LOGIN, default "desk") reads the gateways'
# state, health, alarms and events and writes only firegate/+/+/cmd/DESK_LOGIN/#; list that login
# in each gateway's outputs.mqtt.operators. Its password goes to secrets/desk.env.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 GATEWAYS_FILE [OPERATORS_FILE]" >&2; exit 2; }
gateways="$1"
operators="${2:-}"
here="$(cd "$(dirname "$0")/.." && pwd)"
secrets="${FIREGATE_SECRETS:-$here/secrets}"
umask 077
mkdir -p "$secrets/credentials" "$secrets/mosquitto" "$secrets/influxdb-out"
# The influxdb container's init script runs as user influxdb and leaves the gateway token here.
chmod 0733 "$secrets/influxdb-out"

if command -v mosquitto_passwd >/dev/null; then
  mpasswd() { mosquitto_passwd "$@"; }
else
  echo "make-passwords: mosquitto_passwd not found; install mosquitto-clients or mosquitto" >&2
  exit 1
fi

ident='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
secret() {  # secret NAME: the stored password for NAME, made once
  local f="$secrets/credentials/$1"
  [ -s "$f" ] || openssl rand -base64 24 | tr -d '/+=\n' > "$f"
  cat "$f"
}

passwd="$secrets/mosquitto/passwd.new"
acl="$secrets/mosquitto/acl.new"
: > "$passwd"
{
  echo "# Written by scripts/make-passwords.sh; edit the gateway and operator lists instead."
  echo "# No 'topic' lines outside a 'user' block: anything not granted is denied."
} > "$acl"

n=0
while read -r site gw rest; do
  [[ -z "${site:-}" || "$site" == \#* ]] && continue
  if [[ ! "$site" =~ $ident || ! "${gw:-}" =~ $ident || -n "${rest:-}" ]]; then
    echo "make-passwords: $gateways: bad line '$site ${gw:-} ${rest:-}': expected SITE GATEWAY_ID" >&2
    exit 2
  fi
  user="$site.$gw"
  mpasswd -b "$passwd" "$user" "$(secret "gateway-$user")"
  printf '\n# gateway %s of site %s\nuser %s\ntopic write firegate/%s/%s/#\ntopic read firegate/%s/%s/cmd/#\n' \
    "$gw" "$site" "$user" "$site" "$gw" "$site" "$gw" >> "$acl"
  n=$((n + 1))
done < "$gateways"

m=0
if [ -n "$operators" ]; then
  while read -r op rest; do
    [[ -z "${op:-}" || "$op" == \#* ]] && continue
    if [[ ! "$op" =~ $ident || -n "${rest:-}" ]]; then
      echo "make-passwords: $operators: bad operator name '$op'" >&2
      exit 2
    fi
    mpasswd -b "$passwd" "$op" "$(secret "operator-$op")"
    printf '\n# operator %s\nuser %s\ntopic read firegate/#\ntopic write firegate/+/+/cmd/%s/#\n' \
      "$op" "$op" "$op" >> "$acl"
    m=$((m + 1))
  done < "$operators"
fi
desk="${FIREGATE_DESK_LOGIN:-desk}"
if [[ ! "$desk" =~ $ident ]]; then
  echo "make-passwords: bad desk login '$desk'" >&2
  exit 2
fi
mpasswd -b "$passwd" "$desk" "$(secret "desk-$desk")"
printf '\n# the control room desk (firegate desk)\nuser %s\n' "$desk" >> "$acl"
for t in state health events 'alarms/+'; do
  printf 'topic read firegate/+/+/%s\n' "$t" >> "$acl"
done
printf 'topic write firegate/+/+/cmd/%s/#\n' "$desk" >> "$acl"

mv "$passwd" "$secrets/mosquitto/passwd"
mv "$acl" "$secrets/mosquitto/acl"
# The broker runs as user mosquitto in its container and reads these through a read-only mount.
chmod 644 "$secrets/mosquitto/passwd" "$secrets/mosquitto/acl"

cat > "$secrets/influxdb.env" <<ENV
DOCKER_INFLUXDB_INIT_USERNAME=admin
DOCKER_INFLUXDB_INIT_PASSWORD=$(secret influxdb-admin)
DOCKER_INFLUXDB_INIT_ADMIN_TOKEN=$(secret influxdb-admin-token)
GRAFANA_INFLUX_PASSWORD=$(secret influxdb-grafana)
ENV
cat > "$secrets/desk.env" <<ENV
FIREGATE_DESK_MQTT_USER=$desk
FIREGATE_DESK_MQTT_PASSWORD=$(secret "desk-$desk")
ENV
cat > "$secrets/grafana.env" <<ENV
GF_SECURITY_ADMIN_USER=admin
GF_SECURITY_ADMIN_PASSWORD=$(secret grafana-admin)
GRAFANA_INFLUX_PASSWORD=$(secret influxdb-grafana)
ENV
echo "make-passwords: $n gateways, $m operators, desk login $desk; passwords in $secrets/credentials/" \
  "(give each gateway its own: gateway-SITE.GATEWAY_ID)"
