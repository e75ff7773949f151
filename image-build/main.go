// Command image-build builds Flotilla's bootable disk image, update payload
// and per-node configs from source, unprivileged. See internal/imagebuild.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/payload"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o imagebuild.Options
	var images listFlag
	flag.StringVar(&o.Out, "out", "", "output directory (required)")
	flag.StringVar(&o.Version, "version", "0.1.0", "version of this build (semver, e.g. 1.2.0)")
	flag.StringVar(&o.Channel, "channel", "stable", "update channel of the payload")
	flag.IntVar(&o.Nodes, "nodes", 1, "with N > 1, also write DIR/node-K/{config.json,disk.img} for an N-node cluster")
	flag.BoolVar(&o.DebugShell, "debug-shell", false, "put flotilla.debug=1 on the kernel command line (serial debug shell)")
	flag.Var(&images, "image", "a docker-archive or oci-archive tar to bake into "+imagebuild.ImagesDir+" (repeatable)")
	signingKey := flag.String("signing-key", "", "ed25519 key that signs update payloads (created if absent); its public half goes into every node's config")
	updateURL := flag.String("update-url", "", "update server the nodes poll, e.g. http://10.0.2.2:8080/")
	updateInterval := flag.Duration("update-interval", 0, "how often nodes poll the update server (default 1h)")
	sbKey := flag.String("secure-boot-key", "", "PEM key (unencrypted) that signs the UKI and systemd-boot for UEFI Secure Boot (sbsign)")
	sbCert := flag.String("secure-boot-cert", "", "PEM certificate of --secure-boot-key, the one enrolled in the firmware's db")
	flag.Parse()
	if *sbKey != "" || *sbCert != "" {
		o.SecureBoot = &imagebuild.SecureBoot{Key: *sbKey, Cert: *sbCert}
	}
	if o.Out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: image-build --out DIR [--version V] [--nodes N] [--image archive.tar] [--secure-boot-key KEY --secure-boot-cert CERT]")
		os.Exit(2)
	}
	o.Images = images
	if (*signingKey == "") != (*updateURL == "") {
		fmt.Fprintln(os.Stderr, "image-build: --signing-key and --update-url go together: nodes need both the server and the key that signs its payloads")
		os.Exit(2)
	}
	if *signingKey != "" {
		key, err := payload.LoadOrCreateKey(*signingKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image-build:", err)
			os.Exit(1)
		}
		o.Update = &bootconfig.Update{URL: *updateURL, PublicKey: payload.PublicKeyString(key), Channel: o.Channel}
		if *updateInterval > 0 {
			o.Update.Interval = updateInterval.String()
		}
	}
	o.SourceDateEpoch = sourceDateEpoch()
	o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := imagebuild.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image-build:", err)
		os.Exit(1)
	}
	fmt.Println(res.Disk)
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH, else the last commit's time, else 0.
func sourceDateEpoch() int64 {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image-build: SOURCE_DATE_EPOCH=%q is not a number of seconds\n", v)
			os.Exit(2)
		}
		return n
	}
	if out, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return n
		}
	}
	return 0
}
