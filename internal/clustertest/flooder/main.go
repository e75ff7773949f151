// Command flooder is the attacker of the flood tests: it holds -n
// connections to -addr that never finish a TLS handshake, sending the
// start of a ClientHello a byte at a time every -drip, and dials again
// when the server closes one. Every second it prints
// "open=N dials=N closed=N failed=N" on stdout. It is built and run by
// clustertest.StartFlood; it sends traffic only where it is told.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

var open, dials, closed, failed atomic.Int64

// hello is a TLS record header and the start of a ClientHello.
var hello = []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}

func main() {
	addr := flag.String("addr", "", "host:port to flood")
	n := flag.Int("n", 1000, "connections to hold")
	drip := flag.Duration("drip", 3*time.Second, "pause between bytes")
	redial := flag.Duration("redial", 3*time.Second, "pause before dialing again after a close")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "flooder: -addr is required")
		os.Exit(2)
	}
	fmt.Printf("open=0 dials=0 closed=0 failed=0\n")
	for i := range *n {
		go hold(*addr, *drip, *redial, time.Duration(i%200)*time.Millisecond)
	}
	for range time.Tick(time.Second) {
		fmt.Printf("open=%d dials=%d closed=%d failed=%d\n", open.Load(), dials.Load(), closed.Load(), failed.Load())
	}
}

func hold(addr string, drip, redial, stagger time.Duration) {
	time.Sleep(stagger) // spread the first SYNs a little
	buf := make([]byte, 512)
	for {
		dials.Add(1)
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			failed.Add(1)
			time.Sleep(redial)
			continue
		}
		open.Add(1)
		for i := 0; ; i++ {
			if _, err := c.Write(hello[i%len(hello) : i%len(hello)+1]); err != nil {
				break
			}
			c.SetReadDeadline(time.Now().Add(drip))
			_, err := c.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			break // closed, reset, or an alert from the server
		}
		c.Close()
		open.Add(-1)
		closed.Add(1)
		time.Sleep(redial)
	}
}
