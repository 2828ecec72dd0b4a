#!/bin/bash
# Run once by the influxdb image after its setup: map the frostline bucket
# to database "frostline", retention policy "autogen", so that InfluxQL
# (Grafana's dashboards) can query it.
set -euo pipefail
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --db frostline --rp autogen --bucket-id "$bucket_id" --default
