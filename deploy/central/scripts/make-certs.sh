#!/bin/bash
# Make a private CA and TLS certificates for the broker, Grafana and the desk, in secrets/tls/.
#   scripts/make-certs.sh MQTT_HOSTNAME [GRAFANA_HOSTNAME] [--days N]
# InfluxDB gets a certificate for GRAFANA_HOSTNAME too (same server) and for "influxdb", the name
# Grafana reaches it by inside the stack; so does the desk (port 8480, and "desk" in the stack).
# Gateways trust ca.crt (copy it to each gateway as /etc/firegate/ca.crt). Existing files are
# kept: delete secrets/tls/ to start again (gateways then need the new ca.crt).
set -euo pipefail

usage() { echo "usage: $0 MQTT_HOSTNAME [GRAFANA_HOSTNAME] [--days N]" >&2; exit 2; }
days=1095
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    -h|--help) usage ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -ge 1 ] || usage
mqtt_host="${names[0]}"
grafana_host="${names[1]:-$mqtt_host}"

here="$(cd "$(dirname "$0")/.." && pwd)"
out="${FIREGATE_SECRETS:-$here/secrets}/tls"
mkdir -p "$out"
chmod 700 "$out"
cd "$out"

san() {  # a hostname or an IP address, plus localhost for checks on the server itself
  local h="$1"
  if [[ "$h" =~ ^[0-9.]+$ ]]; then echo "IP:$h,DNS:localhost,IP:127.0.0.1";
  else echo "DNS:$h,DNS:localhost,IP:127.0.0.1"; fi
}

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$((days * 3))" \
    -keyout ca.key -out ca.crt -subj "/O=firegate/CN=firegate campus CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  echo "made-certs: CA secrets/tls/ca.crt (keep ca.key offline once the certificates are made)"
fi

issue() {  # issue NAME HOSTNAME [EXTRA_DNS_NAME]: EXTRA is the compose service name
  local name="$1" host="$2" extra="${3:-}"
  [ -f "$name.crt" ] && { echo "made-certs: $name.crt exists, kept"; return; }
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name.key" -out "$name.csr" \
    -subj "/O=firegate/CN=$host" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    "$(san "$host")${extra:+,DNS:$extra}" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  echo "made-certs: $name.crt for $host"
}
issue mqtt "$mqtt_host" mosquitto
issue grafana "$grafana_host" grafana
issue influxdb "$grafana_host" influxdb
issue desk "$grafana_host" desk
chmod 600 ./*.key
# The containers run as non-root users: let them read the keys through the group/other bit only
# on the copies they mount (compose mounts read-only). Tighten with chown if your host allows it.
chmod 644 mqtt.key grafana.key influxdb.key desk.key
