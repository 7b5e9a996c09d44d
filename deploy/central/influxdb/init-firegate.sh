#!/bin/bash
# Runs once, inside the influxdb container, right after its first setup (the image runs every
# script in /docker-entrypoint-initdb.d). It makes what firegate needs beyond the org and bucket:
#  - the DBRP mapping, so InfluxQL queries for database "firegate" (Grafana's dashboards) read
#    the "firegate" bucket;
#  - a v1 read-only user for Grafana (InfluxQL datasources authenticate with user and password);
#  - a write-only token for the gateways' InfluxDB sink, written to /firegate-out/ for the admin.
set -euo pipefail

: "${DOCKER_INFLUXDB_INIT_BUCKET:?}" "${DOCKER_INFLUXDB_INIT_ORG:?}"
: "${GRAFANA_INFLUX_PASSWORD:?set in secrets/influxdb.env by scripts/make-passwords.sh}"

bucket_id=$(influx bucket list --org "$DOCKER_INFLUXDB_INIT_ORG" \
  --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
if [ -z "$bucket_id" ]; then
  echo "init-firegate: bucket $DOCKER_INFLUXDB_INIT_BUCKET not found" >&2
  exit 1
fi

influx v1 dbrp create --org "$DOCKER_INFLUXDB_INIT_ORG" --bucket-id "$bucket_id" \
  --db firegate --rp autogen --default

influx v1 auth create --org "$DOCKER_INFLUXDB_INIT_ORG" --username grafana \
  --password "$GRAFANA_INFLUX_PASSWORD" --read-bucket "$bucket_id" \
  --description "Grafana dashboards (InfluxQL, read only)"

umask 077
influx auth create --org "$DOCKER_INFLUXDB_INIT_ORG" --write-bucket "$bucket_id" \
  --description "firegate gateways (write only)" --hide-headers | cut -f3 \
  > /firegate-out/gateway-write-token
echo "init-firegate: DBRP firegate/autogen -> bucket $bucket_id; Grafana user 'grafana';" \
  "gateway write token in secrets/influxdb-out/gateway-write-token"
