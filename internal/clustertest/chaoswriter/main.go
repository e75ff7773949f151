// Command chaoswriter is the unit of the fault-injection tests
// (clustertest.RunFaultInjection, RunLeaderPause): every -every it
// appends one line
//
//	<unit> <machine> <CLOCK_MONOTONIC ns> <pid namespace inode>/<pid>/<nonce>
//
// to -log, with one write(2) on an O_APPEND descriptor, so that lines from
// many writers on many nodes never mix. The last field names this copy of
// the unit: a restarted unit, or one started on another node, writes a new
// one. The random nonce is what makes it unique: a node restarted in a
// fresh pid namespace can get the freed namespace's inode number again,
// and its units the same pids in the same order. It is a Go program rather than a shell loop because thirty shell
// writers fork a date(1) and a sleep(1) ten times a second each, which on
// a small CI host costs more CPU than the cluster under test.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	log := flag.String("log", "", "file to append to")
	unit := flag.String("unit", "", "the unit's name (%n)")
	machine := flag.String("machine", "", "the machine running it (%m)")
	every := flag.Duration("every", 100*time.Millisecond, "pause between lines")
	flag.Parse()
	if *log == "" || *unit == "" || *machine == "" {
		fmt.Fprintln(os.Stderr, "chaoswriter: -log, -unit and -machine are required")
		os.Exit(2)
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaoswriter: %v\n", err)
		os.Exit(1)
	}
	// "pid:[4026532281]" → "4026532281"
	var nonce [4]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		fmt.Fprintf(os.Stderr, "chaoswriter: %v\n", err)
		os.Exit(1)
	}
	id := fmt.Sprintf("%s/%d/%x", strings.Trim(strings.TrimPrefix(ns, "pid:"), "[]"), os.Getpid(), nonce)
	f, err := os.OpenFile(*log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaoswriter: %v\n", err)
		os.Exit(1)
	}
	tick := time.NewTicker(*every)
	for {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			fmt.Fprintf(os.Stderr, "chaoswriter: clock_gettime: %v\n", err)
			os.Exit(1)
		}
		line := fmt.Sprintf("%s %s %d %s\n", *unit, *machine, ts.Nano(), id)
		if _, err := f.Write([]byte(line)); err != nil {
			fmt.Fprintf(os.Stderr, "chaoswriter: %s: %v\n", *log, err)
			os.Exit(1)
		}
		<-tick.C
	}
}
