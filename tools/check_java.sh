#!/usr/bin/env bash
# Spark 3.5 on EMR 7.x runs on Java 17; say so in one line when it is missing.
set -euo pipefail
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "error: Java 17 not found: install a JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME" >&2
  exit 1
fi
version=$("$java_bin" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
if [ "${version%%.*}" != 17 ]; then
  echo "error: Java 17 is required (EMR 7.x runs Java 17), found '$version' at $(command -v "$java_bin"): install openjdk-17-jdk-headless or point JAVA_HOME at a JDK 17" >&2
  exit 1
fi
