#!/usr/bin/env bash
# Installs what Flotilla's builds and tests need on a fresh Debian 12 machine.
# Idempotent; run as root. Go itself is expected at /usr/local/go (>= 1.26).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The OS image (issue 4): the kernel and its modules, systemd's stub and boot
# loader, objcopy for the UKI, mksquashfs, e2fsprogs for STATE, QEMU with
# OVMF for qemu-test, and the tools tests check images with. The services
# benchmarks (issue 10) run Debian's iperf3, dnsperf and dnsmasq side by side
# (dnsmasq-base: the dnsmasq package would start a DNS service on port 53).
# Issue 13's metrics test runs Debian's prometheus (and promtool) on ports of
# its own; the package enables a prometheus service, which is stopped below.
# Its status page test drives Debian's chromium, headless, through chromedp.
# Its log forwarding test runs Debian's rsyslogd (with rsyslog-gnutls for TLS)
# on ports of its own; the packaged service is stopped below.
pkgs=(iproute2 procps ca-certificates busybox-static
	linux-image-amd64 systemd-boot-efi binutils squashfs-tools e2fsprogs
	qemu-system-x86 ovmf fdisk mtools dosfstools cpio xz-utils zstd
	iperf3 dnsperf dnsmasq-base prometheus chromium rsyslog rsyslog-gnutls
	cryptsetup-bin sbsigntool) # veritysetup checks our dm-verity trees; sbsign for --secure-boot-key
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The tests start their own prometheus; the packaged service would hold
# port 9090 and scrape in the background. No systemd (a container): no-op.
systemctl disable --now prometheus 2>/dev/null || true
systemctl disable --now rsyslog 2>/dev/null || true
export PATH=$PATH:/usr/local/go/bin
go version >/dev/null || { echo "setup: Go not found at /usr/local/go: install Go >= 1.26" >&2; exit 1; }
go mod download
