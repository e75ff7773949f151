#!/usr/bin/env bash
# The main job: build Flotilla, boot a three-node cluster under QEMU (UEFI,
# systemd-boot, mutual TLS), and point fleetctl at it.
#   bash scripts/cluster.sh          # up (returns once the cluster is ready)
#   bash scripts/cluster.sh down     # stop the VMs and remove the namespace
#   bash scripts/cluster.sh kill node-2          # SIGKILL one VM (a power cut)
#   bash scripts/cluster.sh kill web@1.service   # SIGKILL the VM that runs a unit
# Environment: OUT (default ./out), NODES (3), UEFI (true).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
OUT=${OUT:-out}
mkdir -p "$OUT"
pidfile=$OUT/cluster.pid
case "${1:-up}" in
down)
	if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
		while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.5; done
		echo "cluster stopped"
	else
		echo "no cluster running"
	fi
	rm -f "$pidfile" "$OUT/cluster.ready"
	exit 0 ;;
kill)
	target=${2:?usage: $0 kill node-K|UNIT}
	node=$target
	if [[ $target == *.* ]]; then
		# A unit: its machine from list-units, that machine's node=K metadata
		# (image-build gives node K node=K) from list-machines.
		# shellcheck disable=SC1091
		source "$OUT/fleetctl.env"
		machine=$(fleetctl list-units --no-legend --full --fields unit,machine |
			awk -v u="$target" '$1 == u { split($2, m, "/"); print m[1] }')
		if [ -z "$machine" ] || [ "$machine" = "-" ]; then
			echo "unit $target runs on no machine (fleetctl list-units)" >&2
			exit 1
		fi
		k=$(fleetctl list-machines --no-legend --full --fields machine,metadata |
			awk -v m="$machine" '$1 == m { n = split($2, kv, ","); for (i = 1; i <= n; i++) if (kv[i] ~ /^node=/) print substr(kv[i], 6) }')
		if [ -z "$k" ]; then
			echo "machine $machine of $target has no node=K metadata" >&2
			exit 1
		fi
		node=node-$k
	fi
	pidf=$OUT/vms/$node.pid
	if [ ! -f "$pidf" ] || ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
		echo "no running VM $node (no live pid in $pidf)" >&2
		exit 1
	fi
	kill -KILL "$(cat "$pidf")"
	echo "killed $node (QEMU pid $(cat "$pidf"))${machine:+, machine $machine, which ran $target}"
	exit 0 ;;
up) ;;
*) echo "usage: $0 [up|down|kill node-K|kill UNIT]" >&2; exit 2 ;;
esac
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	echo "a cluster is already running (pid $(cat "$pidfile")); $0 down first" >&2
	exit 1
fi
go build -o "$OUT/flotilla-cluster" ./qemu-test/cluster
rm -f "$OUT/cluster.ready"
: >"$OUT/cluster.log"
nohup "$OUT/flotilla-cluster" --out "$OUT" --nodes "${NODES:-3}" --uefi="${UEFI:-true}" >"$OUT/cluster.log" 2>&1 &
echo $! >"$pidfile"
echo "building and booting; progress in $OUT/cluster.log"
tail -n +1 -f "$OUT/cluster.log" --pid "$(cat "$pidfile")" &
tailer=$!
while [ ! -f "$OUT/cluster.ready" ]; do
	if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		kill $tailer 2>/dev/null || true
		echo "the cluster failed to start; see $OUT/cluster.log and $OUT/vms/*.serial.log" >&2
		exit 1
	fi
	sleep 1
done
kill $tailer 2>/dev/null || true
cat <<MSG

Flotilla cluster is up. Point fleetctl at it:
  source $OUT/fleetctl.env
  fleetctl list-machines
Stop it with: bash scripts/cluster.sh down
MSG
