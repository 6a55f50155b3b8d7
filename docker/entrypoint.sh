#!/bin/sh
# The image's entrypoint: `flightserver serve` with the container's defaults.
# Every default is an environment variable, so `docker run -e` (and the test
# that runs this script outside Docker) can override it; arguments are passed
# to `flightserver serve` and override both.
set -eu
export FLIGHTSERVER_HOST="${FLIGHTSERVER_HOST:-0.0.0.0}"
export FLIGHTSERVER_PORT="${FLIGHTSERVER_PORT:-32010}"
export FLIGHTSERVER_HEALTH_PORT="${FLIGHTSERVER_HEALTH_PORT:-32011}"
export FLIGHTSERVER_HTTP_PORT="${FLIGHTSERVER_HTTP_PORT:-9090}"
export FLIGHTSERVER_CATALOG_DIR="${FLIGHTSERVER_CATALOG_DIR:-/data/catalog}"
export FLIGHTSERVER_STATE_DIR="${FLIGHTSERVER_STATE_DIR:-/data/state}"
export FLIGHTSERVER_LOG_FORMAT="${FLIGHTSERVER_LOG_FORMAT:-json}"
exec flightserver serve "$@"
