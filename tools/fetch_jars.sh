#!/usr/bin/env bash
# Fetch the jars listed in requirements/jars.txt into a cache folder, once.
# Uses Maven (the ordinary client for Maven Central); after this, nothing reaches the network.
set -euo pipefail
dest=${1:?usage: fetch_jars.sh DEST_DIR}
list=requirements/jars.txt
if ! command -v mvn >/dev/null 2>&1; then
  echo "error: Maven (mvn) is needed once to fetch the Spark jars in $list: install it (apt-get install maven)" >&2
  exit 1
fi
mkdir -p "$dest"
grep -v -e '^#' -e '^[[:space:]]*$' "$list" | while read -r coordinate; do
  IFS=: read -r group artifact version <<<"$coordinate"
  if [ -s "$dest/$artifact-$version.jar" ]; then continue; fi
  echo "fetching $coordinate"
  if ! mvn -q -B dependency:copy -Dartifact="$coordinate" -DoutputDirectory="$dest" >"$dest/.mvn.log" 2>&1; then
    echo "error: could not fetch $coordinate with Maven (see $dest/.mvn.log)" >&2
    exit 1
  fi
done
touch "$dest/.complete"
