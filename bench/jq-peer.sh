#!/usr/bin/env bash
# jq-peer.sh FILE.json.gz... aggregates export files the way a shell pipeline
# would: gzip -dc | jq | awk. jq (Debian's) picks the fields of each record,
# in the casing of the files or of the JSON API; awk counts records per profile,
# configuration, RBAC group, OS platform and status, and each device's rollup
# per profile, as the exporter does. It prints the counts, then
# "records seconds" on its last line.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 FILE.json.gz..." >&2
  exit 2
fi

fields='[
  (.DeviceId // .deviceId // ""),
  (.ProfileId // .profileId // ""),
  (.ConfigurationId // .configurationId // ""),
  (.RbacGroupName // .rbacGroupName // ""),
  (.OsPlatform // .OSPlatform // .osPlatform // ""),
  ((.IsApplicable // .isApplicable) | tostring),
  ((.IsCompliant // .isCompliant) | tostring)
] | @tsv'

count='
$1 == "" || $2 == "" || $3 == "" { next }
{
  group = ($4 == "" ? "Unassigned" : $4)
  platform = ($5 == "" ? "Unknown" : $5)
  status = ($6 != "true") ? "not_applicable" : ($7 == "true" ? "compliant" : "non_compliant")
  series[$2 "|" $3 "|" group "|" platform "|" status]++
  records++

  device = tolower($1) "|" $2
  if (!(device in labels)) labels[device] = $2 "|" group "|" platform
  if (status != "not_applicable") applicable[device] = 1
  if (status == "non_compliant") failing[device] = 1
}
END {
  for (device in labels) {
    status = (device in failing) ? "non_compliant" : ((device in applicable) ? "compliant" : "not_applicable")
    profiles[labels[device] "|" status]++
  }
  for (s in series) n++
  for (p in profiles) m++
  printf "{\"records\":%d,\"series\":%d,\"profile_series\":%d}\n", records, n, m
}'

start=$EPOCHREALTIME
result=$(gzip -dc "$@" | jq -r "$fields" | awk -F '\t' "$count")
end=$EPOCHREALTIME

echo "$result"
records=${result#*\"records\":}
echo "${records%%,*} $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')"
