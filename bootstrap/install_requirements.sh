#!/usr/bin/env bash
# EMR bootstrap action: install the jobs' pinned Python packages for Python 3.11 on this node.
#
#   install_requirements.sh REQUIREMENTS_URI [--wheelhouse WHEELHOUSE_URI]
#
# REQUIREMENTS_URI is the requirements.txt `make deploy` uploads (s3:// or a local path).
# Without --wheelhouse, pip installs from PyPI (the node needs internet access, e.g. a NAT
# gateway). With --wheelhouse, pip installs only from the wheels under that S3 prefix
# (`make wheelhouse` writes wheelhouse/x86_64/ and wheelhouse/aarch64/; upload the folder of
# the nodes' architecture), for private subnets.
#
# EMR 7.x runs Amazon Linux 2023, whose /usr/bin/python3 is Python 3.9 for the life of the
# OS; Python 3.11 is the separate python3.11 package, installed here when missing.
#
# Idempotent: a marker named after the requirements' sha256 records a verified install, so
# running it again (or on a node that has it already) checks and returns. Fails loudly:
# any failing command stops it with a non-zero exit and a line naming the command, which
# makes EMR fail the cluster start instead of running jobs without their packages.
set -euo pipefail

usage="usage: install_requirements.sh REQUIREMENTS_URI [--wheelhouse WHEELHOUSE_URI]"
log() { echo "spark-jobs bootstrap: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
trap 'status=$?; log "error: line $LINENO: \"$BASH_COMMAND\" exited with $status"; exit $status' ERR

[ $# -ge 1 ] || die "$usage"
requirements_uri=$1
shift
wheelhouse=""
while [ $# -gt 0 ]; do
  case $1 in
    --wheelhouse)
      [ $# -ge 2 ] || die "$usage"
      wheelhouse=$2
      shift 2
      ;;
    *) die "unknown argument '$1' ($usage)" ;;
  esac
done

python=${SPARK_JOBS_PYTHON:-python3.11}
state_dir=${SPARK_JOBS_STATE_DIR:-/var/lib/spark-jobs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copy an s3:// object or prefix (with the AWS CLI every EMR node has) or a local path.
fetch() {
  local source=$1 target=$2 recursive=${3:-}
  case $source in
    s3://*) aws s3 cp --only-show-errors ${recursive:+--recursive} "$source" "$target" ;;
    *) cp ${recursive:+-R} "$source" "$target" ;;
  esac
}

# Every `name==version` line of the requirements must be what Python 3.11 imports.
verify() {
  "$python" - "$work/requirements.txt" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

wrong = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, pinned = (part.strip() for part in line.partition("=="))
    try:
        found = version(name)
    except PackageNotFoundError:
        found = "nothing"
    if found != pinned:
        wrong.append(f"{name}=={pinned} (found {found})")
if wrong:
    sys.exit("not installed as pinned: " + ", ".join(wrong))
PY
}

if ! command -v "$python" >/dev/null 2>&1; then
  log "installing python3.11 and pip with dnf"
  sudo dnf install -y -q python3.11 python3.11-pip
  command -v "$python" >/dev/null 2>&1 || die "$python still missing after dnf install"
fi
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "$python is not Python 3.11"
if ! "$python" -m pip --version >/dev/null 2>&1; then
  log "installing pip for python3.11 with dnf"
  sudo dnf install -y -q python3.11-pip
fi

fetch "$requirements_uri" "$work/requirements.txt"
digest=$(sha256sum "$work/requirements.txt" | cut -d' ' -f1)
marker="$state_dir/requirements-$digest.installed"
if [ -f "$marker" ] && verify; then
  log "requirements $digest already installed; nothing to do"
  exit 0
fi

pip_args=(install --no-input --disable-pip-version-check --no-warn-script-location -r "$work/requirements.txt")
if [ -n "$wheelhouse" ]; then
  log "installing from the wheelhouse $wheelhouse (no index)"
  fetch "${wheelhouse%/}/" "$work/wheelhouse" recursive
  pip_args+=(--no-index --find-links "$work/wheelhouse")
else
  log "installing from the Python package index"
fi
sudo "$python" -m pip "${pip_args[@]}"
verify || die "pip finished but the pinned versions are not what $python imports"

sudo mkdir -p "$state_dir"
sudo touch "$marker"
log "requirements $digest installed for $("$python" --version 2>&1)"
