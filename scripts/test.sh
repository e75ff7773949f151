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
# Everything but the VM tests, then the VM tests alone: QEMU without KVM
# needs the CPU to itself to stay within its timeouts.
go test -count=1 -timeout 30m $(go list ./... | grep -v /qemu-test)
export FLOTILLA_VM_LOGS=${FLOTILLA_VM_LOGS:-$(mktemp -d /tmp/flotilla-vm-logs.XXXXXX)}
vmlog=$FLOTILLA_VM_LOGS/go-test.log
vmstatus=0
go test -count=1 -timeout 60m -v ./qemu-test >"$vmlog" 2>&1 || vmstatus=$?
grep -E '^(=== RUN|--- |PASS|FAIL|ok)|^ +--- |qemu-test:|_test\.go:[0-9]+:' "$vmlog" | grep -v 'image-build' || true
if [ "$vmstatus" -ne 0 ]; then
	echo "qemu-test failed; the last lines of $vmlog (serial logs in $FLOTILLA_VM_LOGS):" >&2
	tail -n 150 "$vmlog" >&2
	exit "$vmstatus"
fi
# Fuzz each parser of user input briefly (every target's corpus, FuzzPlace's
# too, already ran as regression tests above). FuzzPlace is fuzzed at length
# by hand (see README), not here, so that CI stays deterministic.
# The budget is a count of executions, not a duration: Go 1.26's fuzz
# coordinator can fail a duration-bounded run with a bare "context deadline
# exceeded" at the deadline (golang/go#75804, fixed in Go 1.27).
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-200000x}" "./$1"; }
fuzz internal/unit FuzzParse
fuzz internal/bootconfig FuzzParse
fuzz internal/unit FuzzParseName
fuzz internal/unit FuzzParseFleet
fuzz internal/unit FuzzExpand
fuzz internal/unitmgr/native FuzzParseCommandLine
fuzz internal/netbridge FuzzParsePublishPort
fuzz internal/rebootwindow FuzzParseWindow
fuzz internal/seccomp FuzzParse
fuzz internal/container FuzzParseDevice
fuzz internal/container FuzzParseQuadlet
fuzz internal/node FuzzParseCmdline
fuzz internal/clusternet FuzzChoose
fuzz internal/clusternet FuzzPeers
fuzz internal/health FuzzParse
fuzz internal/dns FuzzAnswer
fuzz internal/rollout FuzzStep
fuzz internal/logforward FuzzParse
