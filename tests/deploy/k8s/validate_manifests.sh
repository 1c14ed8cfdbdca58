#!/usr/bin/env bash
# ctest k8s_manifests: validates every manifest under deploy/k8s offline
# against the Kubernetes API schemas (validate_manifests.js, with npm's
# kubernetes-models), then checks that the validator refuses each broken
# manifest of tests/deploy/k8s/bad/ with the message its first line expects, so
# that a validator that accepts anything fails the test.
#
#   tests/deploy/k8s/validate_manifests.sh SOURCE_DIR WORK_DIR
#
# The npm packages (package-lock.json: exact versions and hashes) are
# installed into WORK_DIR (under the build tree), with npm's cache there too,
# once per lock file. Without node, npm or the registry the test fails and
# says so: it never passes without validating.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR WORK_DIR" >&2; exit 2; }
SRC=$(cd "$1" && pwd)
WORK=$2
HERE=$SRC/tests/deploy/k8s
fail() { echo "k8s_manifests: FAILED: $*" >&2; exit 1; }

for tool in node npm; do
  command -v "$tool" >/dev/null ||
    fail "$tool is not installed; tools/install_deps.sh installs it (Debian's nodejs and npm)"
done
mkdir -p "$WORK"
stamp="$WORK/node_modules/.scry-lock"
if ! cmp -s "$HERE/package-lock.json" "$stamp"; then
  cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/"
  echo "k8s_manifests: npm ci into $WORK"
  (cd "$WORK" && npm ci --no-audit --no-fund --cache "$WORK/npm-cache" --prefer-offline) ||
    fail "cannot install the validator's npm packages (kubernetes-models, yaml) into $WORK:" \
      "is the npm registry reachable? (npm config get registry: $(npm config get registry))"
  cp "$HERE/package-lock.json" "$stamp"
fi
export NODE_PATH="$WORK/node_modules"

echo "k8s_manifests: deploy/k8s"
node "$HERE/validate_manifests.js" "$SRC/deploy/k8s" || fail "deploy/k8s has invalid manifests (above)"

# The negative controls: each must be refused, for the reason it names.
count=0
for bad in "$HERE"/bad/*.yaml; do
  expect=$(sed -n '1s/^# expect: //p' "$bad")
  [ -n "$expect" ] || fail "$bad has no '# expect: MESSAGE' first line"
  if out=$(node "$HERE/validate_manifests.js" "$bad"); then
    fail "the validator accepted $bad (expected: $expect)"
  fi
  grep -qF -- "$expect" <<<"$out" || fail "$bad was refused, but not with \"$expect\": $out"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || fail "no negative control in $HERE/bad"
echo "k8s_manifests: deploy/k8s valid; $count broken manifests refused"
