#!/bin/sh
# verify.sh SECRET BODY_FILE HEADER: checks a Frostline webhook delivery
# the way notify.Verify does. HEADER is the Frostline-Signature value; the
# body must be the exact bytes received. Prints ok, or fails.
set -eu
secret=$1 body=$2 header=$3
t=$(printf '%s' "$header" | tr ',' '\n' | sed -n 's/^ *t=//p')
age=$(( $(date +%s) - t ))
[ "${age#-}" -le 300 ] || { echo "timestamp outside 5 minutes: possible replay" >&2; exit 1; }
want=$( { printf '%s.' "$t"; cat "$body"; } | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
printf '%s' "$header" | tr ',' '\n' | sed 's/^ *//' | grep -qx "v1=$want" || { echo "no signature matches" >&2; exit 1; }
echo ok
