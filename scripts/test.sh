#!/usr/bin/env bash
# The test command (README): vet, every test including the slow and
# privileged ones (run as root), and a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export FLOTILLA_SLOW=1
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go build ./...
go test -count=1 -timeout 30m ./...
# Fuzz each parser briefly (corpus regressions run in the go test above too).
for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed 's/func //' | sort -u); do
	pkg=$(grep -rlE "^func $target\(" --include='*_test.go' internal | head -1 | xargs dirname)
	go test -run '^$' -fuzz "^$target\$" -fuzztime 10s "./$pkg"
done
