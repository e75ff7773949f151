package netbridge

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReconfigure moves a bridge set up on the default subnet to a
// cluster network's subnet, with its MTU, as init's manager does when
// fleetd tells it the claimed subnet; then a container keeps its own
// address towards the cluster CIDR and is masqueraded beyond it; a move
// with a container attached is refused, naming it.
func TestReconfigure(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	if err := nw.Reconfigure("10.88.3.0/24", "10.88.0.0/16", 1450); err != nil {
		t.Fatal(err)
	}
	out := run(t, "ip", "-n", nd.node.name, "-4", "addr", "show", "flotilla0")
	if !strings.Contains(out, "10.88.3.1/24") || strings.Contains(out, "10.88.0.1") || !strings.Contains(out, "mtu 1450") {
		t.Fatalf("bridge after Reconfigure:\n%s", out)
	}
	// A "peer node" in the outside namespace: 10.88.9.1 in the cluster
	// CIDR, routed both ways.
	run(t, "ip", "-n", nd.outside.name, "addr", "add", "10.88.9.1/32", "dev", "vin")
	run(t, "ip", "-n", nd.outside.name, "route", "add", "10.88.3.0/24", "via", nodeIP)
	run(t, "ip", "-n", nd.node.name, "route", "add", "10.88.9.0/24", "via", outsideIP)
	serve(t, nd.outside.h, "peer", "10.88.9.1:9200")
	serve(t, nd.outside.h, "outside", outsideIP+":9201")

	c := startContainer(t)
	ep := attach(t, nw, "c.service", c)
	if !strings.HasPrefix(ep.IP.String(), "10.88.3.") {
		t.Fatalf("container got %s, want an address of 10.88.3.0/24", ep.IP)
	}
	// ip, not /sys: nsenter --net does not remount /sys.
	link, _ := exec.Command("nsenter", "--net=/proc/"+itoa(c.pid)+"/ns/net", "ip", "-o", "link", "show", "eth0").Output()
	if !strings.Contains(string(link), "mtu 1450") {
		t.Errorf("container eth0: %s, want mtu 1450", link)
	}
	if _, seen, err := ask(c.h, "10.88.9.1:9200"); err != nil || seen != ep.IP.String() {
		t.Errorf("to a cluster address: seen as %q (%v), want the container's own %s", seen, err, ep.IP)
	}
	if _, seen, err := ask(c.h, outsideIP+":9201"); err != nil || seen != nodeIP {
		t.Errorf("beyond the cluster: seen as %q (%v), want masqueraded to %s", seen, err, nodeIP)
	}
	err := nw.Reconfigure("10.88.4.0/24", "10.88.0.0/16", 1450)
	if err == nil || !strings.Contains(err.Error(), ep.IP.String()) {
		t.Errorf("move with a container attached: %v, want a refusal naming %s", err, ep.IP)
	}
	if err := nw.Reconfigure("10.88.3.0/24", "10.88.0.0/16", 1400); err != nil {
		t.Errorf("same subnet, new MTU, container attached: %v", err)
	}
	if err := nw.Reconfigure("10.99.3.0/24", "10.88.0.0/16", 1400); err == nil {
		t.Error("subnet outside the cluster CIDR: no error")
	}
}

func itoa(i int) string {
	var b []byte
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
